"""Settings for the alerting example project.

The database comes from the environment: ``DATABASE_URL`` if set, otherwise the usual libpq
variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). Importing this module never
connects to anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

# Development only: this example is never deployed.
SECRET_KEY = "django-insecure-alerting-example-not-for-production"
DEBUG = True
ALLOWED_HOSTS: list[str] = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.postgres",
    "monitoring",
]

MIDDLEWARE: list[str] = []

ROOT_URLCONF = "alerting_project.urls"


def database_from_environment() -> dict[str, object]:
    """The ``default`` database: ``DATABASE_URL`` first, then the PG* variables."""
    url = os.environ.get("DATABASE_URL")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in {"postgres", "postgresql"}:
            raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://")
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "alerting",
            "USER": unquote(parts.username or "postgres"),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 5432),
            "OPTIONS": options,
        }
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PGDATABASE", "alerting"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
    }


DATABASES = {"default": database_from_environment()}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
