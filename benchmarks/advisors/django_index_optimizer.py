"""``django-index-optimizer`` (PyPI), run on a copy of the example project.

    >>> advice = advise(conn, queries, EXAMPLE, database_url)  # doctest: +SKIP
    >>> advice.statements[0]
    'CREATE INDEX CONCURRENTLY "dio_monitoring_webhookdelivery_status_idx" ON ...'

It reads pg_stat_statements (``manage.py optimize_indexes --format json``), takes the columns of
each statement's WHERE and proposes single-column B-tree indexes for those that no index leads
with. So the workload is run plainly ``repeats`` times (its default ``--min-calls`` is 5) after
resetting pg_stat_statements for this database only. It is not a dependency of idxadvisor: when
it is not installed, or fails, the benchmark records why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from benchmarks.advisors import Advice, did_not_run
from benchmarks.workload import WorkloadQuery, execute_plainly

NAME = "django-index-optimizer"


def advise(
    conn: psycopg.Connection,
    queries: list[WorkloadQuery],
    project: Path,
    database_url: str,
    workdir: Path,
    *,
    repeats: int = 5,
) -> Advice:
    """Fill pg_stat_statements with the workload, then run ``optimize_indexes`` on a copy."""
    if importlib.util.find_spec("optimizer") is None:
        return did_not_run(NAME, "not installed (pip install django-index-optimizer)")
    copy = workdir / "dio" / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    settings = copy / "alerting_project" / "settings.py"
    settings.write_text(
        settings.read_text() + '\nINSTALLED_APPS = [*INSTALLED_APPS, "optimizer"]\n'
    )
    conn.autocommit = True
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        # Only this database's entries: other databases on the server keep theirs.
        conn.execute(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
            "WHERE datname = current_database()), 0)"
        )
    except psycopg.Error as exc:
        return did_not_run(NAME, f"pg_stat_statements unavailable: {exc}")
    conn.autocommit = False
    execute_plainly(conn, queries, repeats=repeats)
    conn.commit()
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "manage.py", "optimize_indexes", "--format", "json", "--limit", "100"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    advise_seconds = time.perf_counter() - started
    if proc.returncode != 0:
        return did_not_run(NAME, proc.stderr or proc.stdout)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        return did_not_run(NAME, f"output is not JSON: {exc}")
    recommendations = report.get("recommendations") or []
    return Advice(
        advisor=NAME,
        statements=tuple(dict.fromkeys(r["create_sql"].rstrip(";") for r in recommendations)),
        advise_seconds=advise_seconds,
        details={
            "recommendations": [
                {k: r.get(k) for k in ("table", "columns", "calls", "reason")}
                for r in recommendations
            ]
        },
    )
