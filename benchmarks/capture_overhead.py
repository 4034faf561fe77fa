"""Wall-time overhead of ``idxadvisor capture`` on a Django test suite of 100,000+ queries.

    python -m benchmarks.capture_overhead [--runs 3] [--queries-per-test 1000] [--tests 100]

Generates a small Django project (one model, ``TestCase`` classes whose tests run ORM queries of
a few shapes: filter + count, get by pk, filter + order_by + slice, exists, update) in a temp
directory and runs ``manage.py test`` against real PostgreSQL, alternately without and with
``idxadvisor capture``, after one warm-up run of each. Prints the median wall time of each and
the overhead in percent. The captured wall time includes everything a user waits for: the
idxadvisor CLI start-up, the recording, and the summary at the end.

The server comes from ``IDXADVISOR_BENCH_DATABASE_URL``, ``DATABASE_URL`` or the local default;
a uniquely named database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

SETTINGS = '''
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
'''

MODELS = '''
from django.db import models


class Item(models.Model):
    owner = models.IntegerField()
    status = models.CharField(max_length=20)
    score = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
'''

QUERIES = '''
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
'''

TEST_CLASS = '''
class Suite{index}(TestCase):
    @classmethod
    def setUpTestData(cls):
        Item.objects.bulk_create(
            Item(owner=i % 7, status=("open", "closed")[i % 2], score=i) for i in range(50)
        )
        cls.pks = list(Item.objects.values_list("pk", flat=True))
{methods}
'''

TEST_METHOD = '''
    def test_{index}(self):
        for i in range({rounds}):
            queries.open_items(i % 7)
            queries.by_pk(self.pks[i % 50])
            queries.top_scores(i % 50)
            queries.owner_has_closed(i % 7)
            queries.bump(self.pks[i % 50])
'''


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
        methods = "".join(TEST_METHOD.format(index=m, rounds=rounds)
                          for m in range(min(per_class, tests - c * per_class)))
        classes.append(TEST_CLASS.format(index=c, methods=methods))
    (root / "bench" / "tests.py").write_text(
        "from django.test import TestCase\n\nfrom bench import queries\n"
        "from bench.models import Item\n" + "".join(classes)
    )
    (root / "manage.py").write_text(textwrap.dedent('''
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_project.settings")
            from django.core.management import execute_from_command_line

            execute_from_command_line(sys.argv)
    '''))
    return tests * rounds * 5


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--queries-per-test", type=int, default=1000)
    args = parser.parse_args(argv)
    server = (os.environ.get("IDXADVISOR_BENCH_DATABASE_URL")
              or os.environ.get("DATABASE_URL") or DEFAULT_URL)
    name = f"idxadv_bench_capture_{uuid.uuid4().hex[:8]}"
    params = conninfo_to_dict(server)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    user = params.get("user", "postgres")
    password = f":{params['password']}" if params.get("password") else ""
    url = (f"postgresql://{user}{password}@{params.get('host', '127.0.0.1')}:"
           f"{params.get('port', 5432)}/{name}")
    try:
        with tempfile.TemporaryDirectory(prefix="idxadv-bench-") as tmp:
            root = Path(tmp)
            queries = write_project(root, args.tests, args.queries_per_test)
            env = {**os.environ, "BENCH_DATABASE_URL": url}
            env.pop("DJANGO_SETTINGS_MODULE", None)
            made = subprocess.run([sys.executable, "manage.py", "makemigrations", "bench", "-v0"],
                                  cwd=root, env=env, capture_output=True, text=True)
            if made.returncode != 0:
                raise SystemExit(made.stderr)
            test = [sys.executable, "manage.py", "test", "--noinput", "-v0"]
            workload = root / "workload.jsonl"
            captured = [sys.executable, "-m", "idxadvisor", "capture", "-o", str(workload),
                        "--", *test]
            timed(test, root, env)  # warm-up: caches, first connection, bytecode
            timed(captured, root, env)
            plain_times, captured_times = [], []
            for _ in range(args.runs):
                plain_times.append(timed(test, root, env))
                captured_times.append(timed(captured, root, env))
            from idxadvisor.sources.capture.workload_file import summarise_workload_file

            summary = summarise_workload_file(workload)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            for db in (name, f"test_{name}"):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                             .format(sql.Identifier(db)))
    plain = statistics.median(plain_times)
    with_capture = statistics.median(captured_times)
    result = {
        "queries_in_tests": queries,
        "statements_captured": summary.statements,
        "distinct_shapes": summary.shapes,
        "runs": args.runs,
        "plain_seconds": round(plain, 3),
        "captured_seconds": round(with_capture, 3),
        "overhead_percent": round((with_capture / plain - 1) * 100, 1),
        "plain_all": [round(t, 3) for t in plain_times],
        "captured_all": [round(t, 3) for t in captured_times],
    }
    print(f"queries run by the tests: {queries:,} (captured statements: "
          f"{summary.statements:,}, {summary.shapes} shapes)")
    print(f"manage.py test, median of {args.runs}: {plain:.2f} s without capture, "
          f"{with_capture:.2f} s with capture")
    print(f"overhead: {result['overhead_percent']:+.1f}%")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
