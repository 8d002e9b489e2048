from kefu_ticketing.app import service

if __name__ == "__main__":
    service.main()
