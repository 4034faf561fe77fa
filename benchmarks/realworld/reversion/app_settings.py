APPS = ["reversion"]
APP_SETTINGS: dict = {}
