APPS = ["django_celery_results"]
APP_SETTINGS: dict = {"CELERY_RESULT_BACKEND": "django-db"}
