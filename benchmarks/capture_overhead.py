"""Wall-time overhead of ``idxadvisor capture`` on real Django test suites.

    python -m benchmarks.capture_overhead [--suite real|alerting|reversion|synthetic]... [--pairs 3]

Suites (``--suite real`` is the first two; the default stays ``synthetic``, whose JSON line
``benchmarks/run.py`` reads):

* ``alerting``: the bundled example's own tests (``manage.py test``);
* ``reversion``: django-reversion's own suite from its sdist (``pip download --no-binary``),
  158 tests through the admin, views, middleware and management commands, on PostgreSQL;
* ``synthetic``: a generated project whose tests run 100,000 ORM queries of five shapes
  (``--tests``, ``--queries-per-test``): the recorder's per-query cost with nothing else.

Each suite runs against real PostgreSQL in pairs, without and with ``idxadvisor capture``, after
one warm-up run of each; the order within a pair alternates. Printed: the median wall time of
each side, the median of the per-pair overheads (wall and CPU of the processes) and every
pair's overhead, which shows how noisy the machine was. The captured wall time includes
everything a user waits for: the idxadvisor CLI start-up, the recording, and the summary at the
end.

The server comes from ``IDXADVISOR_BENCH_DATABASE_URL``, ``DATABASE_URL`` or the local default;
a uniquely named database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "alerting"

SETTINGS = """
import os
from urllib.parse import urlsplit

_url = urlsplit(os.environ["BENCH_DATABASE_URL"])
SECRET_KEY = "benchmark-only"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "bench"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": _url.path.lstrip("/"),
    "USER": _url.username or "postgres",
    "PASSWORD": _url.password or "",
    "HOST": _url.hostname or "127.0.0.1",
    "PORT": str(_url.port or 5432),
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""

MODELS = """
from django.db import models


class Item(models.Model):
    owner = models.IntegerField()
    status = models.CharField(max_length=20)
    score = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
"""

QUERIES = """
from bench.models import Item


def open_items(owner):
    return Item.objects.filter(status="open", owner=owner).count()


def by_pk(pk):
    return Item.objects.filter(pk=pk).first()


def top_scores(minimum):
    return list(Item.objects.filter(score__gte=minimum).order_by("-score")[:5])


def owner_has_closed(owner):
    return Item.objects.filter(owner=owner, status="closed").exists()


def bump(pk):
    return Item.objects.filter(pk=pk).update(score=1)
"""

TEST_CLASS = """
class Suite{index}(TestCase):
    @classmethod
    def setUpTestData(cls):
        Item.objects.bulk_create(
            Item(owner=i % 7, status=("open", "closed")[i % 2], score=i) for i in range(50)
        )
        cls.pks = list(Item.objects.values_list("pk", flat=True))
{methods}
"""

TEST_METHOD = """
    def test_{index}(self):
        for i in range({rounds}):
            queries.open_items(i % 7)
            queries.by_pk(self.pks[i % 50])
            queries.top_scores(i % 50)
            queries.owner_has_closed(i % 7)
            queries.bump(self.pks[i % 50])
"""


def write_project(root: Path, tests: int, queries_per_test: int) -> int:
    """The generated project; returns how many queries its test methods run."""
    rounds = max(1, queries_per_test // 5)
    (root / "bench_project").mkdir()
    (root / "bench_project" / "__init__.py").write_text("")
    (root / "bench_project" / "settings.py").write_text(SETTINGS)
    (root / "bench" / "migrations").mkdir(parents=True)
    (root / "bench" / "__init__.py").write_text("")
    (root / "bench" / "migrations" / "__init__.py").write_text("")
    (root / "bench" / "models.py").write_text(MODELS)
    (root / "bench" / "queries.py").write_text(QUERIES)
    per_class = 10
    classes = []
    for c in range((tests + per_class - 1) // per_class):
        methods = "".join(
            TEST_METHOD.format(index=m, rounds=rounds)
            for m in range(min(per_class, tests - c * per_class))
        )
        classes.append(TEST_CLASS.format(index=c, methods=methods))
    (root / "bench" / "tests.py").write_text(
        "from django.test import TestCase\n\nfrom bench import queries\n"
        "from bench.models import Item\n" + "".join(classes)
    )
    (root / "manage.py").write_text(
        textwrap.dedent("""
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_project.settings")
            from django.core.management import execute_from_command_line

            execute_from_command_line(sys.argv)
    """)
    )
    return tests * rounds * 5


SUITES = ("alerting", "reversion", "synthetic", "real")  # real: alerting and reversion
REVERSION_SDIST = "django-reversion==6.4.0"
REVERSION_SETTINGS = """
import os

from test_project.settings import *  # noqa: F403 - the suite's own settings, databases swapped

# The suite runs against three aliases (default, postgres, mysql): all on PostgreSQL here.
DATABASES = {
    alias: {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": f"{os.environ['BENCH_DATABASE_NAME']}_{alias}",
        "USER": os.environ.get("BENCH_DATABASE_USER", "postgres"),
        "PASSWORD": os.environ.get("BENCH_DATABASE_PASSWORD", ""),
        "HOST": os.environ.get("BENCH_DATABASE_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_DATABASE_PORT", "5432"),
    }
    for alias in ("default", "postgres", "mysql")
}
"""


@dataclass(frozen=True)
class Suite:
    """A test suite to time: where it runs, the command, and its environment."""

    name: str
    cwd: Path
    command: list[str]
    env: dict[str, str]
    queries: int | None = None  # known in advance for the synthetic suite only


def synthetic_suite(root: Path, url: str, tests: int, queries_per_test: int) -> Suite:
    queries = write_project(root, tests, queries_per_test)
    env = {**os.environ, "BENCH_DATABASE_URL": url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    made = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "bench", "-v0"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise SystemExit(made.stderr)
    return Suite(
        "synthetic", root, [sys.executable, "manage.py", "test", "--noinput", "-v0"], env, queries
    )


def alerting_suite(root: Path, url: str) -> Suite:
    """The bundled example's own tests (a copy: the run writes bytecode and nothing else)."""
    project = root / "alerting"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return Suite(
        "alerting", project, [sys.executable, "manage.py", "test", "--noinput", "-v0"], env
    )


def reversion_suite(root: Path, url: str) -> Suite:
    """django-reversion's own test suite (158 tests: admin, views, middleware, commands) from
    its sdist, on PostgreSQL; the sdist's ``reversion`` package is the one imported."""
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-binary",
            ":all:",
            "--no-deps",
            "-d",
            str(root),
            REVERSION_SDIST,
        ],
        capture_output=True,
        text=True,
    )
    archives = sorted(root.glob("django_reversion-*.tar.gz"))
    if got.returncode != 0 or not archives:
        raise SystemExit(f"cannot download {REVERSION_SDIST}: {got.stderr.strip()[-500:]}")
    with tarfile.open(archives[0]) as tar:
        tar.extractall(root, filter="data")
    source = archives[0].name.removesuffix(".tar.gz")
    tests = root / source / "tests"
    (tests / "bench_pg_settings.py").write_text(REVERSION_SETTINGS)
    params = conninfo_to_dict(url)
    env = {
        **os.environ,
        "PYTHONPATH": str(root / source),
        "BENCH_DATABASE_NAME": str(params["dbname"]),
        "BENCH_DATABASE_USER": str(params.get("user") or "postgres"),
        "BENCH_DATABASE_PASSWORD": str(params.get("password") or ""),
        "BENCH_DATABASE_HOST": str(params.get("host") or "127.0.0.1"),
        "BENCH_DATABASE_PORT": str(params.get("port") or 5432),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return Suite(
        "reversion",
        tests,
        [
            sys.executable,
            "manage.py",
            "test",
            "--noinput",
            "-v0",
            "--settings",
            "bench_pg_settings",
        ],
        env,
    )


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def measure(suite: Suite, pairs: int, workload: Path) -> dict[str, Any]:
    """Paired runs after one warm-up of each; the order inside a pair alternates, so a load
    that grows or shrinks during the benchmark does not favour one side."""
    captured = [
        sys.executable,
        "-m",
        "idxadvisor",
        "capture",
        "-o",
        str(workload),
        "--",
        *suite.command,
    ]
    timed(suite.command, suite.cwd, suite.env)  # warm-up: caches, first connection, bytecode
    timed(captured, suite.cwd, suite.env)
    plain: list[tuple[float, float]] = []
    with_capture: list[tuple[float, float]] = []
    for pair in range(pairs):
        if pair % 2 == 0:
            plain.append(timed(suite.command, suite.cwd, suite.env))
            with_capture.append(timed(captured, suite.cwd, suite.env))
        else:
            with_capture.append(timed(captured, suite.cwd, suite.env))
            plain.append(timed(suite.command, suite.cwd, suite.env))
    from idxadvisor.sources.capture.workload_file import summarise_workload_file

    summary = summarise_workload_file(workload)
    wall_ratios = [c[0] / p[0] - 1 for p, c in zip(plain, with_capture, strict=True)]
    cpu_ratios = [c[1] / p[1] - 1 for p, c in zip(plain, with_capture, strict=True)]
    return {
        "suite": suite.name,
        "queries_in_tests": suite.queries,
        "statements_captured": summary.statements,
        "distinct_shapes": summary.shapes,
        "pairs": pairs,
        "plain_seconds": round(statistics.median(t for t, _ in plain), 3),
        "captured_seconds": round(statistics.median(t for t, _ in with_capture), 3),
        # The median of the per-pair overheads: each pair ran under about the same load.
        "overhead_percent": round(statistics.median(wall_ratios) * 100, 1),
        "cpu_overhead_percent": round(statistics.median(cpu_ratios) * 100, 1),
        "pair_overheads_percent": [round(r * 100, 1) for r in wall_ratios],
        "plain_all": [round(t, 3) for t, _ in plain],
        "captured_all": [round(t, 3) for t, _ in with_capture],
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite",
        action="append",
        choices=SUITES,
        help="suite to time (repeatable; 'real' = alerting and reversion; "
        "default: synthetic, what benchmarks/run.py reads)",
    )
    parser.add_argument("--pairs", "--runs", type=int, default=3, dest="pairs")
    parser.add_argument("--tests", type=int, default=100, help="synthetic suite: test methods")
    parser.add_argument(
        "--queries-per-test",
        type=int,
        default=1000,
        help="synthetic suite: queries per test method",
    )
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    server = (
        os.environ.get("IDXADVISOR_BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or DEFAULT_URL
    )
    results = []
    names = args.suite or ["synthetic"]
    for name in dict.fromkeys(
        n for s in names for n in (("alerting", "reversion") if s == "real" else (s,))
    ):
        results.append(_run_suite(name, server, args))
    return results


def _run_suite(name: str, server: str, args: argparse.Namespace) -> dict[str, Any]:
    database = f"idxadv_bench_capture_{uuid.uuid4().hex[:8]}"
    params = conninfo_to_dict(server)
    user = params.get("user", "postgres")
    password = f":{params['password']}" if params.get("password") else ""
    url = (
        f"postgresql://{user}{password}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', 5432)}/{database}"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="idxadv-bench-") as tmp:
            root = Path(tmp)
            if name == "synthetic":
                suite = synthetic_suite(root, url, args.tests, args.queries_per_test)
            elif name == "alerting":
                suite = alerting_suite(root, url)
            else:
                suite = reversion_suite(root, url)
            result = measure(suite, args.pairs, root / "workload.jsonl")
    finally:
        # Test databases are created per alias by the suites; drop every one this run made.
        with psycopg.connect(server, autocommit=True) as conn:
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"%{database}%",)
                )
            ]
            for db in names:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
                )
    print(
        f"{name}: {result['statements_captured']:,} statements captured "
        f"({result['distinct_shapes']} shapes); median of {args.pairs} pairs: "
        f"{result['plain_seconds']:.2f} s without capture, "
        f"{result['captured_seconds']:.2f} s with capture; overhead "
        f"{result['overhead_percent']:+.1f}% wall, {result['cpu_overhead_percent']:+.1f}% CPU "
        f"(pairs: {', '.join(f'{r:+.1f}%' for r in result['pair_overheads_percent'])})"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
