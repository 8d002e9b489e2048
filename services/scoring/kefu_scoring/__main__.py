from kefu_scoring.app import service

if __name__ == "__main__":
    service.main()
