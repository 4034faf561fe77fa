"""Builders for the check tests: tiny Django projects on disk, checked through the real
pipeline, Django and all, via ``idxadvisor check`` in a subprocess; and the before/after of
applying a finding's suggestion to the model."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.helpers import Run, run_cli


def write_source(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


# --- Real projects ------------------------------------------------------------------------------

SETTINGS = """
SECRET_KEY = "check-tests"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.postgres", "shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unused",
                         "HOST": "127.0.0.1", "USER": "postgres"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""

MANAGE = """
import os, sys
if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""


def write_project(root: Path, models: str, queries: str) -> Path:
    """A minimal Django project: ``shop/models.py`` and ``shop/queries.py`` as given."""
    write_source(root, "manage.py", MANAGE)
    write_source(root, "shopsite/__init__.py", "")
    write_source(root, "shopsite/settings.py", SETTINGS)
    write_source(root, "shop/__init__.py", "")
    write_source(
        root,
        "shop/apps.py",
        """
        from django.apps import AppConfig
        class ShopConfig(AppConfig):
            name = "shop"
    """,
    )
    write_source(root, "shop/models.py", models)
    write_source(root, "shop/queries.py", queries)
    return root


def check_json(root: Path, *files: str, args: tuple[str, ...] = ()) -> tuple[Run, list[dict]]:
    """``idxadvisor check --format json FILES`` in ``root``; the findings parsed."""
    result = run_cli("check", "--format", "json", *args, *(files or ("shop/queries.py",)), cwd=root)
    assert result.returncode in (0, 1), result.stderr
    assert result.returncode == (1 if json.loads(result.stdout)["findings"] else 0)
    return result, json.loads(result.stdout)["findings"]


INDEX_IMPORTS = (
    "from django.contrib.postgres.indexes import BrinIndex, GinIndex, OpClass  # noqa: F401\n"
    "from django.db.models import Q  # noqa: F401\n"
    "from django.db.models.functions import Lower, Upper  # noqa: F401\n"
)


def with_index(models: str, suggestion: str) -> str:
    """The models source with ``suggestion`` (Django source of an index) added to the last
    model's ``Meta.indexes``, as a developer following the message would."""
    body = textwrap.dedent(models).rstrip("\n")
    return INDEX_IMPORTS + body + f"\n\n    class Meta:\n        indexes = [{suggestion}]\n"


def before_after(root: Path, models: str, queries: str) -> tuple[list[dict], list[dict]]:
    """Check the project, apply the first finding's suggestion to the model, check again:
    (findings before, findings after)."""
    write_project(root, models, queries)
    _, before = check_json(root)
    assert before, "nothing flagged before the index"
    write_source(root, "shop/models.py", with_index(models, before[0]["suggestion"]))
    _, after = check_json(root)
    return before, after
