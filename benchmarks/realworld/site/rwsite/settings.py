"""Settings of the minimal site each real-world app runs in (PostgreSQL only, never SQLite).

The database is the runner's throwaway one, named by ``REALWORLD_DATABASE_URL``; without it the
settings still import (the static scan needs no database). The app under test and its own
settings come from ``rwsite/app_settings.py``, copied in from ``<app>/app_settings.py``. An app
whose code takes different query paths under different documented settings lists them in
``CONFIGS`` (name -> overrides of ``APP_SETTINGS``); ``REALWORLD_CONFIG`` picks one, the first
by default (the one the static scan and the strip check see).
"""

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from rwsite import app_settings
from rwsite.app_settings import APPS

_configs = getattr(app_settings, "CONFIGS", {"default": {}})
_config = os.environ.get("REALWORLD_CONFIG") or next(iter(_configs))
if _config not in _configs:
    raise ImproperlyConfigured(f"REALWORLD_CONFIG={_config!r} is not one of {sorted(_configs)}")
APP_SETTINGS = {**app_settings.APP_SETTINGS, **_configs[_config]}

_url = urlsplit(
    os.environ.get(
        "REALWORLD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/realworld_unused"
    )
)

SECRET_KEY = "realworld-benchmark-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
# Fast hashing, as in Django's own test settings: drivers log in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ROOT_URLCONF = "rwsite.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    *APPS,
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    *APP_SETTINGS.get("EXTRA_MIDDLEWARE", []),
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "postgres",
        "PASSWORD": _url.password or "",
        "HOST": _url.hostname or "127.0.0.1",
        "PORT": str(_url.port or 5432),
    }
}
globals().update({k: v for k, v in APP_SETTINGS.items() if k != "EXTRA_MIDDLEWARE"})
