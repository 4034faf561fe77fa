"""Runtime capture on a real Django project's test suite (``tests/fixtures/capture_shop``).

The fixture has what real suites have and the example lacks: a data migration naming a field the
models dropped since, project middleware that calls ``get_response``, a class-based view whose
``TemplateResponse`` renders after the view returned, a decorated view, and ``LIKE`` lookups of
every shape. Each test runs the real ``idxadvisor capture`` against a real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from idxadvisor.sources.capture.workload_file import read_workload_file
from tests.helpers import (
    ROOT,
    TempDatabase,
    analyze_json,
    create_database,
    drop_database,
    run_capture,
    run_cli,
    run_python,
)

FIXTURE = ROOT / "tests" / "fixtures" / "capture_shop"


@dataclass(frozen=True)
class Suite:
    project: Path
    database: TempDatabase
    default: Path  # captured with the defaults
    with_django: Path  # captured with IDXADVISOR_CAPTURE_INCLUDE_DJANGO=1


def statement_records(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == "statement"]


@pytest.fixture(scope="module")
def suite(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    project = tmp_path_factory.mktemp("capture_real") / "shop"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    database = create_database(pg_server_url, prefix="idxadv_capreal")
    try:
        runs = {}
        for name, extra in (
            ("default", {}),
            ("with_django", {"IDXADVISOR_CAPTURE_INCLUDE_DJANGO": "1"}),
        ):
            output = project / f"{name}.jsonl"
            run = run_capture(
                output, "manage.py", "test", "--noinput", cwd=project, env={**database.env, **extra}
            )
            assert run.returncode == 0, run.stderr
            runs[name] = output
        yield Suite(project, database, runs["default"], runs["with_django"])
    finally:
        drop_database(pg_server_url, database.name)
        drop_database(pg_server_url, f"test_{database.name}")


def _line_of(path: Path, text: str) -> int:
    [line] = [
        n for n, source in enumerate(path.read_text().splitlines(), start=1) if text in source
    ]
    return line


# --- Django's bookkeeping (issue 12) ---------------------------------------------------------

BOOKKEEPING_MARKERS = (
    '"legacy_code"',
    '"django_migrations"',
    '"django_content_type"',
    '"auth_permission"',
    "pg_catalog",
    "information_schema",
)


def test_migrations_and_djangos_bookkeeping_are_left_out(suite: Suite) -> None:
    kept = statement_records(suite.default)
    assert kept, "the suite's own queries are captured"
    for record in kept:
        assert not any(marker in record["sql"] for marker in BOOKKEEPING_MARKERS), record
        assert record["origin"] is not None, record  # nothing run by Django alone is kept
    ignored = sum(
        r["calls"]
        for r in map(json.loads, suite.default.read_text().splitlines())
        if r["kind"] == "ignored"
    )
    assert ignored > 20, "left-out statements are counted, not silently dropped"
    # the same run with them included: the data migration and content types are there, so the
    # assertions above can fail
    included = {r["sql"] for r in statement_records(suite.with_django)}
    assert any('"legacy_code"' in sql for sql in included)
    assert any('"django_content_type"' in sql for sql in included)
    migration = [
        r
        for r in statement_records(suite.with_django)
        if '"legacy_code"' in r["sql"] and r["origin"]
    ]
    assert {r["origin"]["path"] for r in migration} == {
        "catalog/migrations/0002_copy_legacy_code.py"
    }


def test_analyze_runs_on_the_captured_suite(suite: Suite, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    run = run_cli(
        "analyze",
        str(suite.project),
        "--no-static",
        "--workload",
        str(suite.default),
        "--format",
        "json",
        "-o",
        str(report),
        env={"DATABASE_URL": ""},
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    queries = json.loads(report.read_text())["queries"]
    assert queries and not any("legacy_code" in q["sql"] for q in queries)


# --- origins (issue 12) ----------------------------------------------------------------------


def test_origin_is_the_view_not_the_middleware_nor_the_test_client(suite: Suite) -> None:
    statements, _ = read_workload_file(suite.default)
    views = suite.project / "catalog" / "views.py"
    expected = {
        "product_list": _line_of(views, 'return render(request, "catalog/products.html"'),
        "ActiveProductList.get_queryset": _line_of(views, 'filter(status="active")'),
        "featured_products": _line_of(views, "featured = Product.objects.filter"),
        # no method of its own: Django's ListView runs the query, for this class
        "ProductIndex": _line_of(views, "class ProductIndex(ListView)"),
    }
    selects = [st for st in statements if st.sql.startswith('SELECT "catalog_product"')]
    got = {
        st.origin.function: st.origin.line for st in selects if st.origin.path == "catalog/views.py"
    }
    assert got == expected
    places = {"catalog/views.py", "catalog/search.py", "catalog/admin.py"}
    elsewhere = {st.origin.path for st in selects} - places
    assert not elsewhere, "no SELECT is attributed to the middleware or the tests"


def test_an_admin_changelist_query_comes_from_the_registered_model_admin(suite: Suite) -> None:
    # The changelist is Django's code run for the project's ModelAdmin: the request path is
    # that class, not the test that sent the request (which would make it a test-only query).
    statements, _ = read_workload_file(suite.default)
    admin_py = suite.project / "catalog" / "admin.py"
    on_products = [
        st for st in statements if st.sql.startswith("SELECT") and '"catalog_product"' in st.sql
    ]
    from_admin = [st for st in on_products if st.origin.path == "catalog/admin.py"]
    assert from_admin, [str(st.origin) for st in on_products]
    assert {(st.origin.line, st.origin.function) for st in from_admin} == {
        (_line_of(admin_py, "class ProductAdmin"), "ProductAdmin")
    }
    assert any("'retired'" in st.sql or '"status" = ' in st.sql for st in from_admin)
    assert not any(st.origin.is_test for st in on_products)


# --- LIKE shapes (issue 12) ------------------------------------------------------------------


def test_like_parameters_are_recorded_by_shape_never_by_value(suite: Suite) -> None:
    shapes = {}
    for record in statement_records(suite.default):
        if (record["origin"] or {}).get("path") == "catalog/search.py":
            shapes[record["origin"]["function"]] = record.get("like")
    assert shapes == {
        "by_prefix": {"1": "prefix"},  # "100%" escaped to 100\% then %: still a prefix
        "by_infix": {"1": "infix"},
        "by_suffix": {"1": "suffix"},
        "by_pattern": {"1": "infix"},  # one call "1%", one "%cotton": an index must serve both
    }
    others = [
        r
        for r in statement_records(suite.default)
        if (r["origin"] or {}).get("path") != "catalog/search.py" and "LIKE" not in r["sql"]
    ]
    assert others and all("like" not in r for r in others)
    text = suite.default.read_text()
    for pattern in ("100\\\\%%", "%COTTON%", "%-100", "1%", "%cotton"):  # as bound, escaped
        assert json.dumps(pattern) not in text


# --- the captured program's output (issue 12) ------------------------------------------------

NOISY_PROGRAM = """
import logging, os, sys, warnings
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
import django
from django.conf import settings

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(message)s")
django.setup()
from django.core.management import call_command
from django.db import connection
from catalog.models import Product

call_command("migrate", verbosity=0)
connection.force_debug_cursor = True  # from now on every query is logged by django.db.backends
logging.getLogger("django.db.backends").setLevel(logging.DEBUG)
Product.objects.create(name="x", sku="s")
print(Product.objects.filter(name__startswith="x").count())
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM catalog_product WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                   [1])
    print(cursor.fetchall())
print("done", file=sys.stderr)
"""


def test_captured_program_prints_exactly_what_it_prints_without_capture(
    tmp_path: Path, temp_database: TempDatabase
) -> None:
    project = tmp_path / "shop"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (project / "noisy.py").write_text(NOISY_PROGRAM)
    command = [sys.executable, "-X", "dev", "-W", "always", "noisy.py"]
    env = {**os.environ, **temp_database.env}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    plain = subprocess.run(command, cwd=project, env=env, capture_output=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    with temp_database.connect(autocommit=True) as conn:  # the same starting point: no tables
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    output = tmp_path / "w.jsonl"
    captured = run_cli(
        "capture", "-o", str(output), "--", *command, cwd=project, env=temp_database.env
    )
    assert captured.returncode == 0, captured.stderr
    assert captured.stdout == plain.stdout.decode()
    program_err = [
        line
        for line in captured.stderr.splitlines(keepends=True)
        if not line.startswith("idxadvisor capture: ")
    ]

    def untimed(text: str) -> str:  # django.db.backends logs each query's duration
        return re.sub(r"\(\d+\.\d+\)", "(time)", text)

    assert untimed("".join(program_err)) == untimed(plain.stderr.decode())
    assert b"done" in plain.stderr and b"django.db.backends" in plain.stderr  # it is noisy
    assert any("catalog_product" in r["sql"] for r in statement_records(output))


# --- signals and process lifetime (issue 10) ------------------------------------------------

FAMILY = '''
import os, resource, signal, subprocess, sys, time
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
ready, log = sys.argv[1], sys.argv[2]
GRANDCHILD = """
import os, signal, sys, time
def on_signal(number, frame):
    with open(sys.argv[1], "a") as handle:
        handle.write(f"grandchild {number}\\\\n")
    os._exit(0)
for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(number, on_signal)
open(sys.argv[2], "w").close()
while True:
    time.sleep(0.05)
"""
grandchild_ready = ready + ".grandchild"
grandchild = subprocess.Popen([sys.executable, "-c", GRANDCHILD, log, grandchild_ready])


def on_signal(number, frame):
    with open(log, "a") as handle:
        handle.write(f"child {number}\\n")
    grandchild.wait()
    signal.signal(number, signal.SIG_DFL)
    os.kill(os.getpid(), number)


for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(number, on_signal)
while not os.path.exists(grandchild_ready):
    time.sleep(0.02)
with open(ready, "w") as handle:
    handle.write(f"{os.getpid()} {grandchild.pid}")
while True:
    time.sleep(0.05)
'''


def _start_family(tmp_path: Path) -> tuple[subprocess.Popen[str], list[int], Path]:
    script = tmp_path / "family.py"
    script.write_text(FAMILY)
    ready, log = tmp_path / "ready", tmp_path / "signals.log"
    capture = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "idxadvisor",
            "capture",
            "-o",
            str(tmp_path / "w.jsonl"),
            "--",
            sys.executable,
            str(script),
            str(ready),
            str(log),
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text()):
        assert capture.poll() is None, capture.communicate()
        assert time.monotonic() < deadline, "the captured command did not start"
        time.sleep(0.05)
    return capture, [int(pid) for pid in ready.read_text().split()], log


def _running(pid: int) -> bool:
    """Is ``pid`` a live process (a zombie waiting for its reaper counts as gone)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigkill_of_capture_ends_the_command_and_its_children(tmp_path: Path) -> None:
    capture, pids, _ = _start_family(tmp_path)
    assert all(_running(pid) for pid in pids)
    capture.kill()
    capture.communicate(timeout=10)
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if _running(pid)], "orphans left running"


@pytest.mark.parametrize(
    "signum",
    [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
    ids=lambda s: signal.Signals(s).name,
)
def test_signals_reach_the_whole_command_and_its_exit_code_is_returned(
    tmp_path: Path, signum: int
) -> None:
    capture, pids, log = _start_family(tmp_path)
    os.kill(capture.pid, signum)  # to idxadvisor capture alone, as CI or a supervisor would
    _, stderr = capture.communicate(timeout=30)
    assert capture.returncode == 128 + signum, stderr
    assert sorted(log.read_text().split("\n")[:-1]) == [f"child {signum}", f"grandchild {signum}"]
    assert not [pid for pid in pids if _running(pid)]
    assert "Traceback" not in stderr


def test_a_capture_that_ends_normally_leaves_no_watchdog(tmp_path: Path) -> None:
    script = "import os; print(os.getpid(), os.getppid())"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "idxadvisor",
            "capture",
            "-o",
            str(tmp_path / "w.jsonl"),
            "--",
            sys.executable,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    child, parent = map(int, run.stdout.split())
    watchdogs = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and _cmdline(p).startswith(f"{sys.executable}\0-I\0-S\0-c")
        and f"\0{child}\0" in _cmdline(p)
    ]
    assert not [p for p in watchdogs if _running(int(p.name))]
    assert not _running(parent)


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text()
    except OSError:
        return ""


# A script at the project's root that runs one query: where its origin lands is the question.
REPORT_ACTIVE = (
    "import os, sys\n"
    "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
    'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")\n'
    "import django\n"
    "django.setup()\n"
    "from catalog.models import Product\n"
    'print(Product.objects.filter(status="active").count())\n'
)


def test_a_capture_run_from_another_directory_gives_origins_in_the_project(
    temp_database: TempDatabase, tmp_path: Path
) -> None:
    # Found on django-silk: `capture` run from the project's parent wrote `site/silk/...`, the
    # static scan `silk/...`: one call site became two queries, and `check` matched neither
    # against the changed files. Origins are read relative to the project, as static ones are.
    project = tmp_path / "shop"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (project / "report_active.py").write_text(REPORT_ACTIVE)
    env = temp_database.env
    migrate = run_python("manage.py", "migrate", "-v0", cwd=project, env=env)
    assert migrate.returncode == 0, migrate.stderr
    output = tmp_path / "w.jsonl"
    run = run_capture(output, "shop/report_active.py", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    [as_written] = {st.origin.path for st in read_workload_file(output)[0] if st.origin}
    assert as_written == "shop/report_active.py"
    counts = [
        q
        for q in analyze_json(project, "--workload", str(output), cwd=tmp_path)["queries"]
        if "COUNT(*)" in q["sql"] and "catalog_product" in q["sql"]
    ]
    # The static scan and the capture found one call site: one query, one origin in it.
    [count] = counts
    assert [o.split(":")[0] for o in count["origins"]] == ["report_active.py"], count["origins"]


def test_a_capture_made_in_another_checkout_gives_origins_in_this_one(
    temp_database: TempDatabase, tmp_path: Path
) -> None:
    # CI captures in its checkout, a developer analyses another: the origins named the other
    # checkout's files (absolute paths), and each call site counted twice beside the static
    # scan's. A path relative to the capture's directory that names a file here is that file.
    ci = tmp_path / "ci" / "shop"
    shutil.copytree(FIXTURE, ci, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (ci / "report_active.py").write_text(REPORT_ACTIVE)
    env = temp_database.env
    assert run_python("manage.py", "migrate", "-v0", cwd=ci, env=env).returncode == 0
    output = tmp_path / "w.jsonl"
    assert run_capture(output, "report_active.py", cwd=ci, env=env).returncode == 0
    mine = tmp_path / "dev" / "shop"
    shutil.copytree(ci, mine, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    counts = [
        q
        for q in analyze_json(mine, "--workload", str(output), cwd=mine)["queries"]
        if "COUNT(*)" in q["sql"] and "catalog_product" in q["sql"]
    ]
    [count] = counts
    assert [o.split(":")[0] for o in count["origins"]] == ["report_active.py"], count["origins"]
