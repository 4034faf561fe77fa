APPS = ["django_q"]
_CLUSTER = {"name": "realworld", "orm": "default", "sync": True, "save_limit": 20}
APP_SETTINGS: dict = {
    # sync runs each task in-process through the same worker and monitor code a cluster runs.
    "Q_CLUSTER": {**_CLUSTER, "save_limit_per": "group"},
}
# django_q/conf.py:116-127 documents save_limit_per as "group", "name", "func" or None; each
# makes monitor.save_task (django_q/monitor.py:99-119) prune Success rows filtered on that
# column (or on none). The first is what the static scan sees.
CONFIGS: dict = {
    "save_limit_per_group": {},
    "save_limit_per_name": {"Q_CLUSTER": {**_CLUSTER, "save_limit_per": "name"}},
    "save_limit_per_func": {"Q_CLUSTER": {**_CLUSTER, "save_limit_per": "func"}},
    "save_limit_global": {"Q_CLUSTER": _CLUSTER},
}
