"""Run inside a work dir: which indexes do the stripped models lack next to the migrations?

Prints JSON: the app module's file (to prove the copy was imported), the indexes removed
(``RemoveIndex`` of a ``Meta.indexes`` entry, or ``AlterField`` whose only change is
``db_index`` True → False) and every other detected change as ``unexpected``. The runner
compares ``removed`` with the ground truth and fails loudly on any difference.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any


def _keys(model: Any, index: Any) -> list[str]:
    """The key columns of a ``Meta.indexes`` entry, from ``fields`` or, for an expressions
    index (``Index(F("a"), OrderBy(F("b"), descending=True))``), from each plain field
    reference (an ``OrderBy`` wraps its ``F``); any other expression is kept as text."""
    from django.db.models import F

    if index.fields:
        return [model._meta.get_field(f.lstrip("-")).column for f in index.fields]
    keys = []
    for expression in index.expressions:
        inner = getattr(expression, "expression", expression)
        keys.append(
            model._meta.get_field(inner.name).column
            if isinstance(inner, F)
            else f"expr:{expression}"
        )
    return keys


def main(label: str, package: str) -> dict[str, Any]:
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rwsite.settings")
    import django

    django.setup()
    from django.apps import apps
    from django.db import migrations
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    loader = MigrationLoader(None, ignore_no_migrations=True)
    before = loader.project_state()
    changes = MigrationAutodetector(before, ProjectState.from_apps(apps)).changes(
        graph=loader.graph
    )
    removed: list[dict[str, Any]] = []
    unexpected: list[str] = []
    for app_label, app_migrations in changes.items():
        for migration in app_migrations:
            for op in migration.operations:
                if app_label != label:
                    unexpected.append(f"{app_label}: {op.describe()}")
                    continue
                model = before.apps.get_model(label, op.model_name)
                if isinstance(op, migrations.RemoveIndex):
                    index = next(
                        i
                        for i in before.models[label, op.model_name_lower].options["indexes"]
                        if i.name == op.name
                    )
                    removed.append(
                        {
                            "table": model._meta.db_table,
                            "keys": _keys(model, index),
                            "partial": index.condition is not None,
                            "change": op.describe(),
                        }
                    )
                elif isinstance(op, migrations.AlterField):
                    old = model._meta.get_field(op.name).deconstruct()[3]
                    new = op.field.deconstruct()[3]
                    if (
                        old.get("db_index")
                        and {k: v for k, v in old.items() if k != "db_index"} == new
                    ):
                        removed.append(
                            {
                                "table": model._meta.db_table,
                                "keys": [model._meta.get_field(op.name).column],
                                "partial": False,
                                "change": op.describe(),
                            }
                        )
                    else:
                        unexpected.append(op.describe())
                else:
                    unexpected.append(op.describe())
    return {
        "module": importlib.import_module(package).__file__,
        "removed": removed,
        "unexpected": unexpected,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
