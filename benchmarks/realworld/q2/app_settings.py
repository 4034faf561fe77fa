APPS = ["django_q"]
APP_SETTINGS: dict = {
    # sync runs each task in-process through the same worker and monitor code a cluster runs.
    "Q_CLUSTER": {"name": "realworld", "orm": "default", "sync": True, "save_limit": 20,
                  "save_limit_per": "group"},
}
