APPS = ["axes"]
APP_SETTINGS: dict = {
    "EXTRA_MIDDLEWARE": ["axes.middleware.AxesMiddleware"],
    "AUTHENTICATION_BACKENDS": [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ],
    "AXES_FAILURE_LIMIT": 5,
    "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
    "AXES_ENABLE_ACCESS_FAILURE_LOG": True,
    "AXES_RESET_ON_SUCCESS": True,
}
# The lockout parameters Axes documents (axes/conf.py:28-51 maps the older flags onto them):
# each makes AxesDatabaseHandler.filter_user_attempts (axes/handlers/database.py:369) filter
# AccessAttempt on a different set of columns. The first is what the static scan sees.
CONFIGS: dict = {
    # AXES_LOCK_OUT_BY_COMBINATION_USER_AND_IP
    "username_and_ip": {},
    # Axes' default when nothing is set (conf.py:42), with a cool-off as most sites set, which
    # adds the attempt_time threshold (database.py:392) and the expiry clean-up (database.py:422)
    "ip_address": {"AXES_LOCKOUT_PARAMETERS": ["ip_address"], "AXES_COOLOFF_TIME": 1},
    # AXES_ONLY_USER_FAILURES (conf.py:35)
    "username": {"AXES_LOCKOUT_PARAMETERS": ["username"]},
    # AXES_LOCK_OUT_BY_USER_OR_IP (conf.py:38): two querysets, one per parameter
    "username_or_ip": {"AXES_LOCKOUT_PARAMETERS": ["username", "ip_address"]},
    # AXES_USE_USER_AGENT on the default (conf.py:44-51)
    "ip_and_user_agent": {"AXES_LOCKOUT_PARAMETERS": [["ip_address", "user_agent"]]},
    # AXES_USE_USER_AGENT with AXES_ONLY_USER_FAILURES
    "username_and_user_agent": {"AXES_LOCKOUT_PARAMETERS": [["username", "user_agent"]]},
}
