APPS = ["django_tasks", "django_tasks.backends.database"]
# Two database backends, several allowed queues (django-tasks' README, "Queue names" and "The
# database backend worker"). One settings variant only: no setting changes the SQL of the
# worker's fetch or the prune (django_tasks/backends/database/management/commands/db_worker.py
# :100-108, prune_db_task_results.py:111-123) — the worker's and prune's own --queue-name and
# --backend arguments do, and the driver runs each of them.
APP_SETTINGS: dict = {
    "TASKS": {
        "default": {
            "BACKEND": "django_tasks.backends.database.DatabaseBackend",
            "QUEUES": ["default", "emails", "reports"],
        },
        "bulk": {
            "BACKEND": "django_tasks.backends.database.DatabaseBackend",
            "QUEUES": ["default", "archive"],
        },
    },
}
