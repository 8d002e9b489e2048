from kefu_escalation.app import service

if __name__ == "__main__":
    service.main()
