"""Small real Django projects on disk, written by the generate tests (one app each)."""

from __future__ import annotations

import textwrap
from pathlib import Path

SETTINGS = """\
import os

SECRET_KEY = "test-only"
USE_TZ = True
INSTALLED_APPS = {installed!r}
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("PGDATABASE", "postgres"),
    "USER": os.environ.get("PGUSER", "postgres"),
    "PASSWORD": os.environ.get("PGPASSWORD", ""),
    "HOST": os.environ.get("PGHOST", "127.0.0.1"),
    "PORT": os.environ.get("PGPORT", "5432"),
}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""

MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""


def write_project(
    root: Path,
    app: str,
    *,
    models: str,
    queries: str,
    migrations: dict[str, str] | None = None,
    postgres_app: bool = True,
) -> Path:
    """A project at ``root``: ``manage.py``, ``site_settings.py`` and the app ``app`` with
    ``models`` and ``queries`` (dedented), and ``migrations`` (name → source) if given."""
    installed = (["django.contrib.postgres"] if postgres_app else []) + [app]
    root.mkdir(parents=True, exist_ok=True)
    (root / "manage.py").write_text(MANAGE)
    (root / "site_settings.py").write_text(SETTINGS.format(installed=installed))
    package = root / app
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "__init__.py").write_text("")
    (package / "models.py").write_text(textwrap.dedent(models))
    (package / "queries.py").write_text(textwrap.dedent(queries))
    for name, source in (migrations or {}).items():
        (package / "migrations" / f"{name}.py").write_text(textwrap.dedent(source))
    return root
