APPS = ["axes"]
APP_SETTINGS: dict = {
    "EXTRA_MIDDLEWARE": ["axes.middleware.AxesMiddleware"],
    "AUTHENTICATION_BACKENDS": ["axes.backends.AxesStandaloneBackend",
                                "django.contrib.auth.backends.ModelBackend"],
    "AXES_FAILURE_LIMIT": 5,
    "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
    "AXES_ENABLE_ACCESS_FAILURE_LOG": True,
    "AXES_RESET_ON_SUCCESS": True,
}
