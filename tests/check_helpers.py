"""Builders for the check tests: small hand-made analyses, and tiny Django projects on disk.

Hand-made :class:`Analysis` objects test each check as the pure function of the analysis it is;
the project writer lets the same before/after snippets run through the real pipeline, Django
and all, via ``idxadvisor check`` in a subprocess.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from idxadvisor.types.access import AccessPattern, Predicate
from idxadvisor.types.advice import Advice, IndexCandidate, Recommendation, Served
from idxadvisor.types.analysis import Analysis, AnalysisRequest
from idxadvisor.types.schema import Column, ExistingIndex, IndexElement, Schema, Table
from idxadvisor.types.workload import Origin, Query, Workload
from tests.helpers import Run, run_cli


def query(qid: str, code: str, path: str = "app/queries.py", line: int = 1, col: int = 5,
          sql: str = "") -> Query:
    return Query(id=qid, sql=sql or f"SELECT 1 /* {qid} */", fingerprint=qid, source="static",
                 origins=(Origin(path, line, col),), code=code)


def table(name: str, model: str, *columns: str | tuple[str, str]) -> Table:
    """A table whose columns are given as ``"column"`` or ``("column", "field")``."""
    cols = tuple(
        Column(c, c, "text") if isinstance(c, str) else Column(c[0], c[1], "text")
        for c in columns
    )
    app, _, cls = model.partition(".")
    return Table(name, cols, model=model, app_label=app, model_name=cls)


def index(table_name: str, name: str, *keys: str, method: str = "btree",
          condition: str | None = None, origin: str = "Meta.indexes") -> ExistingIndex:
    """An existing index; a key ``"-col"`` is descending, ``"UPPER(x)"`` an expression."""
    return ExistingIndex(table_name, name, tuple(element(k) for k in keys), origin,
                         method=method, condition=condition)


def element(key: str) -> IndexElement:
    desc = key.startswith("-")
    key = key.lstrip("-")
    if "(" in key:
        return IndexElement(expression=key, descending=desc)
    return IndexElement(column=key, descending=desc)


def recommendation(table_name: str, keys: tuple[str, ...], serves: tuple[str, ...], django: str,
                   method: str = "btree", condition: tuple[Predicate, ...] = ()) -> Recommendation:
    candidate = IndexCandidate(table_name, tuple(element(k) for k in keys), method=method,
                               serves=serves, condition=condition)
    return Recommendation(candidate, name="rec", django=django,
                          sql=f"CREATE INDEX CONCURRENTLY rec ON {table_name}")


def analysis(root: Path, queries: tuple[Query, ...], patterns: tuple[AccessPattern, ...],
             tables: tuple[Table, ...] = (), indexes: tuple[ExistingIndex, ...] = (),
             recommendations: tuple[Recommendation, ...] = (),
             served: tuple[Served, ...] = ()) -> Analysis:
    return Analysis(
        request=AnalysisRequest(project_dir=root),
        root=root,
        statements=len(queries),
        workload=Workload(queries),
        patterns=patterns,
        schema=Schema({t.name: t for t in tables}, indexes),
        advice=Advice(recommendations=recommendations, served=served),
    )


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
    write_source(root, "shop/apps.py", """
        from django.apps import AppConfig
        class ShopConfig(AppConfig):
            name = "shop"
    """)
    write_source(root, "shop/models.py", models)
    write_source(root, "shop/queries.py", queries)
    return root


def check_json(root: Path, *files: str) -> tuple[Run, list[dict]]:
    """``idxadvisor check --format json FILES`` in ``root``; the findings parsed."""
    result = run_cli("check", "--format", "json", *(files or ("shop/queries.py",)), cwd=root)
    assert result.returncode in (0, 1), result.stderr
    return result, json.loads(result.stdout)["findings"]
