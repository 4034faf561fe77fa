"""Runtime capture: ``idxadvisor capture -- python manage.py test`` on the example project.

Everything runs for real: the example's test suite against a throwaway PostgreSQL database,
serially and with ``--parallel 2``, the pytest plugin, the Django management command, a process
killed with SIGKILL. The expensive runs happen once per module.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from idxadvisor.errors import UsageError
from idxadvisor.sources.capture.runtime import numbered_sql
from idxadvisor.sources.capture.workload_file import (
    inline_constants,
    is_capture_file,
    read_workload_file,
)
from idxadvisor.types.workload import Statement
from tests.helpers import (
    EXAMPLE,
    TempDatabase,
    create_database,
    drop_database,
    run_capture,
    run_cli,
    run_python,
)

COUNTING_RUNNER = '''
"""A test runner that counts statements with Django's own execute_wrapper API."""
import json
import os

from django.db import connections
from django.db.backends.signals import connection_created
from django.test.runner import DiscoverRunner

COUNTS = {}


def count(execute, sql, params, many, context):
    COUNTS[sql] = COUNTS.get(sql, 0) + 1
    return execute(sql, params, many, context)


def add_counter(sender, connection, **kwargs):
    if count not in connection.execute_wrappers:
        connection.execute_wrappers.append(count)


class CountingRunner(DiscoverRunner):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        connection_created.connect(add_counter, weak=False)
        for connection in connections.all(initialized_only=True):
            add_counter(None, connection)

    def teardown_test_environment(self, **kwargs):
        super().teardown_test_environment(**kwargs)
        with open(os.environ["COUNT_FILE"], "w") as handle:
            json.dump(COUNTS, handle)
'''


@dataclass(frozen=True)
class Captured:
    project: Path
    database: TempDatabase
    serial: Path
    parallel: Path
    counted: dict[str, int]  # raw SQL -> executions, from the independent counter


def _capture_script(
    captured: Captured,
    name: str,
    text: str,
    *,
    env: dict[str, str] | None = None,
    returncode: int = 0,
) -> Path:
    """``text`` saved as ``<name>.py`` in the captured project and run under ``idxadvisor
    capture`` (with ``env`` added), ending with ``returncode``; the capture file."""
    (captured.project / f"{name}.py").write_text(text)
    output = captured.project / f"{name}.jsonl"
    run = run_capture(
        output, f"{name}.py", cwd=captured.project, env={**captured.database.env, **(env or {})}
    )
    assert run.returncode == returncode, run.stderr
    return output


def records(path: Path, kind: str = "statement") -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == kind]


def app_calls(path: Path) -> int:
    """Executions of statements whose origin is the example app's own code."""
    return sum(
        r["calls"]
        for r in records(path)
        if r["origin"] and r["origin"]["path"].startswith("monitoring/")
    )


@pytest.fixture(scope="module")
def captured(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    assert (EXAMPLE / "manage.py").is_file(), "the example project is missing"
    project = tmp_path_factory.mktemp("capture") / "alerting"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (project / "counting_runner.py").write_text(COUNTING_RUNNER)
    database = create_database(pg_server_url, prefix="idxadv_capture")
    try:
        env = {**database.env, "COUNT_FILE": str(project / "counts.json")}
        migrated = run_python("manage.py", "migrate", "-v0", cwd=project, env=env)
        assert migrated.returncode == 0, migrated.stderr
        serial = run_cli(
            "capture",
            "--output",
            str(project / "serial.jsonl"),
            "--",
            sys.executable,
            "manage.py",
            "test",
            "--noinput",
            "--testrunner",
            "counting_runner.CountingRunner",
            cwd=project,
            env=env,
        )
        assert serial.returncode == 0, serial.stderr
        parallel = run_cli(
            "capture",
            "-o",
            "parallel.jsonl",
            "--",
            sys.executable,
            "manage.py",
            "test",
            "--noinput",
            "--parallel",
            "2",
            cwd=project,
            env=env,
        )
        assert parallel.returncode == 0, parallel.stderr
        counted = json.loads((project / "counts.json").read_text())
        yield Captured(
            project, database, project / "serial.jsonl", project / "parallel.jsonl", counted
        )
    finally:
        drop_database(pg_server_url, database.name)


def test_every_statement_of_the_app_is_counted_like_djangos_own_counter(
    captured: Captured,
) -> None:
    """Same run, two recorders: ours must agree with a counter built on Django's API."""

    def to_dollars(sql: str) -> str:  # written independently of runtime.numbered_sql
        parts = sql.split("%s")
        out = parts[0]
        for n, part in enumerate(parts[1:], start=1):
            out += f"${n}" + part
        return out.replace("%%", "%")

    dml = re.compile(r"\s*\(*\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.I)
    expected = Counter(
        {
            to_dollars(sql): n
            for sql, n in captured.counted.items()
            if '"monitoring_' in sql and dml.match(sql)
        }
    )
    got: Counter[str] = Counter()
    for record in records(captured.serial):
        if '"monitoring_' in record["sql"]:
            got[record["sql"]] += record["calls"]
    assert sum(expected.values()) > 40
    assert got == expected


def test_reader_merges_records_into_statements_with_origins(captured: Captured) -> None:
    everything, none_skipped = read_workload_file(captured.serial, unattributed=True)
    assert none_skipped == ()
    assert all(st.source == "capture" for st in everything)
    assert sum(st.calls for st in everything) == sum(r["calls"] for r in records(captured.serial))
    assert all(st.total_time_ms > 0 for st in everything)
    keys = [(st.sql, st.origin) for st in everything]
    assert len(keys) == len(set(keys))
    # Django's own statements (test database set-up, content types) are left out at capture
    # time; anything else no project frame ran is reported as skipped, not analysed
    assert not any('"django_content_type"' in r["sql"] for r in records(captured.serial))
    statements, skipped = read_workload_file(captured.serial)
    assert all(st.origin is not None for st in statements)
    assert all(s.reason.startswith("run by Django itself") for s in skipped)
    assert len(statements) + len(skipped) == len(everything)


def test_parallel_test_run_is_captured_whole(captured: Captured) -> None:
    processes = {r["process"] for r in records(captured.parallel, "process")}
    workers = {
        r["process"]
        for r in records(captured.parallel)
        if r["origin"] and r["origin"]["path"].startswith("monitoring/")
    }
    assert len(processes) >= 3  # the runner and two workers
    assert len(workers) == 2, "the app's queries should run in both workers"
    assert app_calls(captured.parallel) == app_calls(captured.serial) > 40
    shapes = {r["sql"] for r in records(captured.parallel)} >= {
        r["sql"] for r in records(captured.serial) if '"monitoring_' in r["sql"]
    }
    assert shapes


def _function_statements(path: Path) -> dict[str, set[int]]:
    """Top-level function name -> the first lines of the statements of its body."""
    tree = ast.parse(path.read_text())
    found: dict[str, set[int]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring runs no SQL
            found[node.name] = {stmt.lineno for stmt in body}
    return found


def test_origins_point_to_the_lines_of_queries_py(captured: Captured) -> None:
    statements, _ = read_workload_file(captured.serial)
    expected = _function_statements(captured.project / "monitoring" / "queries.py")
    origins = [
        st.origin for st in statements if st.origin and st.origin.path == "monitoring/queries.py"
    ]
    assert {o.function for o in origins} == set(expected), "every query function ran"
    for origin in origins:
        assert origin.line in expected[origin.function], origin


def test_dynamic_search_deliveries_query_is_captured(captured: Captured) -> None:
    source = (captured.project / "monitoring" / "queries.py").read_text().splitlines()
    [line] = [
        n
        for n, text in enumerate(source, start=1)
        if "WebhookDelivery.objects.filter(**filters)" in text
    ]
    statements, _ = read_workload_file(captured.serial)
    searched = [
        st
        for st in statements
        if st.origin and (st.origin.function, st.origin.line) == ("search_deliveries", line)
    ]
    assert any('"rule_id" = $1' in st.sql and '"status" = $2' in st.sql for st in searched), [
        st.sql for st in searched
    ]


def _one(statements: tuple[Statement, ...], function: str, ending: str) -> Statement:
    [found] = [
        st
        for st in statements
        if st.origin and st.origin.function == function and st.sql.endswith(ending)
    ]
    return found


def test_literals_of_the_code_are_inlined_and_runtime_values_are_not(captured: Captured) -> None:
    statements, _ = read_workload_file(captured.serial)
    due = _one(statements, "due_webhook_deliveries", "LIMIT 100")
    assert "IN ('pending', 'failed')" in due.sql
    assert '"next_retry_at" <= $1' in due.sql
    failed = _one(statements, "failed_deliveries_for_organisation", "LIMIT 50")
    assert "\"status\" = 'failed'" in failed.sql and '"organisation" = $1' in failed.sql
    text = captured.serial.read_text()
    # values that reach the queries through variables never reach the file
    for value in ("abandoned", "ada@example.com", "dave.smith@example.COM", "Dave.Smith"):
        assert value not in text


def test_killed_process_leaves_a_readable_file(captured: Captured) -> None:
    script = textwrap.dedent("""
        import os, signal, time
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alerting_project.settings")
        import django
        django.setup()
        from django.contrib.contenttypes.models import ContentType

        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            ContentType.objects.filter(app_label="monitoring").count()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    output = _capture_script(
        captured,
        "killed",
        script,
        env={"IDXADVISOR_CAPTURE_FLUSH_SECONDS": "0.2"},
        returncode=128 + 9,
    )
    statements, skipped = read_workload_file(output)
    counted = [
        st
        for st in statements
        if st.origin and st.origin.path == "killed.py" and "COUNT(*)" in st.sql
    ]
    assert counted and counted[0].calls > 10 and skipped == ()
    assert "\"app_label\" = 'monitoring'" in counted[0].sql
    # a writer cut off mid-line: the rest is still read, the broken line is reported
    with output.open("a") as handle:
        handle.write('{"kind":"statement","process":"x","sql":"SELECT')
    again, skipped = read_workload_file(output)
    assert again == statements
    assert [s.reason for s in skipped] == [
        "truncated last line (the process was killed while writing)"
    ]


def test_exit_code_append_and_refusing_foreign_files(tmp_path: Path) -> None:
    output = tmp_path / "w.jsonl"
    run = run_cli("capture", "-o", str(output), "--", sys.executable, "-c", "raise SystemExit(3)")
    assert run.returncode == 3
    assert is_capture_file(output)
    assert "0 statements" in run.stderr and "no queries recorded" in run.stderr
    foreign = tmp_path / "notes.txt"
    foreign.write_text("mine\n")
    for extra in ((), ("--append",)):
        refused = run_cli("capture", "-o", str(foreign), *extra, "--", sys.executable, "-c", "0")
        assert refused.returncode == 2
        assert "not an idxadvisor capture file" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert foreign.read_text() == "mine\n"
    missing = run_cli("capture", "-o", str(output))
    assert missing.returncode == 2
    unknown = run_cli("capture", "-o", str(output), "--", "no-such-program-idxadv")
    assert unknown.returncode == 2 and "command not found" in unknown.stderr


def test_append_keeps_earlier_runs_and_replace_starts_over(captured: Captured) -> None:
    output = captured.project / "appended.jsonl"
    shutil.copy(captured.serial, output)
    script = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'alerting_project.settings'; "
        "import django; django.setup(); "
        "from django.contrib.auth.models import Group; "
        "Group.objects.filter(name='x').count()"
    )
    env = captured.database.env
    run = run_cli(
        "capture",
        "--append",
        "-o",
        str(output),
        "--",
        sys.executable,
        "-c",
        script,
        cwd=captured.project,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "1 process" in run.stderr
    assert len(records(output, "process")) == len(records(captured.serial, "process")) + 1
    run = run_cli(
        "capture",
        "-o",
        str(output),
        "--",
        sys.executable,
        "-c",
        script,
        cwd=captured.project,
        env=env,
    )
    assert len(records(output, "process")) == 1


def test_existing_sitecustomize_still_runs(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os\nos.environ['USER_SITECUSTOMIZE'] = 'ran'\n")
    script = (
        "import os, sys; print(os.environ.get('USER_SITECUSTOMIZE'), "
        "any('_boot' in p for p in sys.path), "
        "'_idxadvisor_capture_runtime' in sys.modules, 'django' in sys.modules)"
    )
    run = run_cli(
        "capture",
        "-o",
        str(tmp_path / "w.jsonl"),
        "--",
        sys.executable,
        "-c",
        script,
        env={"PYTHONPATH": str(site)},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["ran", "False", "True", "False"]


def test_pytest_plugin_option(captured: Captured, tmp_path: Path) -> None:
    settings = {
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": captured.database.name,
                "HOST": "127.0.0.1",
                **_pg_params(captured.database),
            }
        },
        "INSTALLED_APPS": ["django.contrib.contenttypes", "django.contrib.auth"],
    }
    (tmp_path / "test_uses_django.py").write_text(
        textwrap.dedent(f"""
        import django
        from django.conf import settings

        settings.configure(**{settings!r})
        django.setup()
        from django.contrib.auth.models import Group


        def test_lookup():
            for _ in range(2):
                assert Group.objects.filter(name="plugin").count() == 0


        def test_other_lookup():
            for _ in range(3):
                assert not Group.objects.filter(name="xdist").exists()
    """)
    )
    (tmp_path / "test_inert.py").write_text(
        textwrap.dedent("""
        import sys


        def test_plugin_is_inert_without_the_option():
            assert "django" not in sys.modules
            assert "idxadvisor.sources.capture.runtime" not in sys.modules
    """)
    )
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDXADVISOR_CAPTURE")}
    inert = subprocess.run(
        [*base, "test_inert.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert inert.returncode == 0, inert.stdout + inert.stderr
    output = tmp_path / "plugin.jsonl"
    run = subprocess.run(
        [*base, f"--idxadvisor-capture={output}", "test_uses_django.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    statements, _ = read_workload_file(output)
    line = next(
        n
        for n, text in enumerate(
            (tmp_path / "test_uses_django.py").read_text().splitlines(), start=1
        )
        if "count()" in text
    )
    [lookup] = [st for st in statements if st.origin and st.origin.function == "test_lookup"]
    assert (lookup.origin.path, lookup.origin.line, lookup.calls) == (
        "test_uses_django.py",
        line,
        2,
    )
    assert "\"name\" = 'plugin'" in lookup.sql
    # pytest-xdist: every worker appends to the same file; `--dist each` runs all tests in both
    # workers, so each count doubles whatever the scheduling
    distributed = subprocess.run(
        [
            *base,
            "-n",
            "2",
            "--dist",
            "each",
            f"--idxadvisor-capture={output}",
            "test_uses_django.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert distributed.returncode == 0, distributed.stdout + distributed.stderr
    calls = {
        st.origin.function: st.calls
        for st in read_workload_file(output)[0]
        if st.origin and st.origin.path == "test_uses_django.py"
    }
    assert calls == {"test_lookup": 4, "test_other_lookup": 6}
    workers = {
        r["process"]
        for r in records(output)
        if r["origin"] and r["origin"]["path"] == "test_uses_django.py"
    }
    assert len(workers) == 2


def _pg_params(database: TempDatabase) -> dict[str, str]:
    env = database.env
    return {
        "PORT": env["PGPORT"],
        "USER": env["PGUSER"],
        **({"PASSWORD": env["PGPASSWORD"]} if "PGPASSWORD" in env else {}),
    }


def test_management_command_when_installed_as_an_app(captured: Captured, tmp_path: Path) -> None:
    project = tmp_path / "alerting"
    shutil.copytree(captured.project, project, ignore=shutil.ignore_patterns("*.jsonl"))
    settings = project / "alerting_project" / "settings.py"
    text = settings.read_text()
    assert '    "monitoring",\n' in text
    settings.write_text(
        text.replace('    "monitoring",\n', '    "monitoring",\n    "idxadvisor",\n')
    )
    env = captured.database.env
    listed = run_python("manage.py", "help", cwd=project, env=env)
    assert "[idxadvisor]" in listed.stdout, listed.stdout + listed.stderr
    run = run_python(
        "manage.py", "idxadvisor", "capture", "-o", "suite.jsonl", cwd=project, env=env
    )
    assert run.returncode == 0, run.stderr
    assert "statements" in run.stderr
    assert app_calls(project / "suite.jsonl") == app_calls(captured.serial)
    helped = run_python("manage.py", "idxadvisor", "capture", "--help", cwd=project, env=env)
    assert helped.returncode == 0 and "-- COMMAND" in helped.stdout
    # analyze from another directory: the command points the CLI at this project
    analyzed = run_python(
        str(project / "manage.py"),
        "idxadvisor",
        "analyze",
        "--format",
        "json",
        cwd=tmp_path,
        env={**env, "DATABASE_URL": ""},
    )
    assert analyzed.returncode == 0, analyzed.stderr
    assert json.loads(analyzed.stdout)["recommendations"]


def test_numbered_placeholders_and_inlining() -> None:
    assert numbered_sql("a = %s AND b LIKE 'x%%' AND c IN (%s, %s)", "positional") == (
        "a = $1 AND b LIKE 'x%' AND c IN ($2, $3)"
    )
    assert numbered_sql("a = %(x)s OR b = %(y)s OR c = %(x)s", "named") == (
        "a = $1 OR b = $2 OR c = $1"
    )
    assert numbered_sql("LIKE 'x%%'", None) == "LIKE 'x%%'"  # no params: no interpolation
    assert inline_constants("a = $1 AND b = $2 AND c = $3", {2: "TRUE"}) == (
        "a = $1 AND b = TRUE AND c = $2"
    )


def test_records_that_disagree_on_a_constant_keep_the_placeholder(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    header = {"kind": "header", "format": "idxadvisor-capture", "version": 1}
    origin = {"path": "app/q.py", "line": 3, "function": "f"}
    lines = [header] + [
        {
            "kind": "statement",
            "process": p,
            "sql": "SELECT 1 FROM t WHERE a = $1 AND b = $2",
            "origin": origin,
            "calls": 2,
            "total_ms": 1.0,
            "constants": c,
        }
        for p, c in (("p1", {"1": "'x'", "2": "'y'"}), ("p2", {"1": "'x'", "2": "'z'"}))
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    [statement], _ = read_workload_file(path)
    assert statement.sql == "SELECT 1 FROM t WHERE a = 'x' AND b = $1"
    assert (statement.calls, statement.total_time_ms, str(statement.origin)) == (
        4,
        2.0,
        "app/q.py:3",
    )
    sql_file = tmp_path / "w.sql"
    sql_file.write_text("SELECT 1;\n")
    assert not is_capture_file(sql_file)
    with pytest.raises(UsageError):
        read_workload_file(sql_file)
    with pytest.raises(UsageError):
        read_workload_file(tmp_path / "missing.jsonl")


def test_analysis_of_the_capture_has_every_static_recommendation_and_more(
    captured: Captured, tmp_path: Path
) -> None:
    """The issue's acceptance test: runtime capture sees all the static scan sees, and more."""
    fresh = tmp_path / "alerting"
    shutil.copytree(EXAMPLE, fresh, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    no_database = {"DATABASE_URL": ""}  # advice from the models alone, for both analyses

    def recommendations(*args: str) -> dict[str, dict]:
        report = tmp_path / f"report{len(list(tmp_path.iterdir()))}.json"
        run = run_cli("analyze", *args, "--format", "json", "-o", str(report), env=no_database)
        assert run.returncode == 0, run.stderr
        return {r["sql"]: r for r in json.loads(report.read_text())["recommendations"]}

    static = recommendations(str(fresh))
    runtime = recommendations(
        str(captured.project), "--no-static", "--workload", str(captured.serial)
    )
    assert static, "the static scan proposes indexes for the example"
    assert set(static) <= set(runtime)
    extra = [r for sql, r in runtime.items() if sql not in static]
    assert any(
        r["table"] == "monitoring_webhookdelivery" and "rule" in r["fields"] for r in extra
    ), [(r["table"], r["fields"]) for r in runtime.values()]
    assert extra, "the dynamic search_deliveries(**criteria) query needs an index"


PROCESSES_SCRIPT = """
import multiprocessing
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alerting_project.settings")
import django

django.setup()
from django.contrib.auth.models import Group
from django.db import connections


def work(n):
    django.setup()
    for _ in range(n):
        Group.objects.filter(name="spawned").count()
    return n


if __name__ == "__main__":
    Group.objects.filter(name="parent").count()
    connections.close_all()
    pid = os.fork()
    if pid == 0:  # a bare fork that leaves through os._exit, skipping atexit
        for _ in range(7):
            Group.objects.filter(name="forked").count()
        os._exit(0)
    os.waitpid(pid, 0)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(work, [5, 6])
"""


def test_forked_and_spawned_processes_are_all_captured(captured: Captured) -> None:
    output = _capture_script(captured, "processes", PROCESSES_SCRIPT)
    calls: Counter[str] = Counter()
    processes: dict[str, set[str]] = {}
    for record in records(output):
        if '"auth_group"' in record["sql"]:
            name = record["constants"]["1"]
            calls[name] += record["calls"]
            processes.setdefault(name, set()).add(record["process"])
    assert calls == {"'parent'": 1, "'forked'": 7, "'spawned'": 11}
    assert len(set().union(*processes.values())) >= 3
    assert not processes["'forked'"] & processes["'parent'"]


def test_an_enum_member_the_code_names_is_a_constant_and_one_built_from_data_is_not(
    captured: Captured,
) -> None:
    # Django code filters on choices members (status=Status.FAILED), often inside a manager
    # method: each is a constant of the code, like a literal, and decides a partial index.
    script_text = textwrap.dedent("""
        import os
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alerting_project.settings")
        import django
        django.setup()
        from django.db import models
        from monitoring.models import WebhookDelivery

        class Status(models.TextChoices):
            FAILED = "failed"
            PENDING = "pending"

        def failed_deliveries():
            return list(WebhookDelivery.objects.filter(status=Status.FAILED)[:5])

        def deliveries_in(value):
            return list(WebhookDelivery.objects.filter(status=Status(value))[:7])

        for _ in range(3):
            failed_deliveries()
        for value in ("failed", "pending"):
            deliveries_in(value)
    """)
    statements, _ = read_workload_file(_capture_script(captured, "enum_filters", script_text))
    constant = _one(statements, "failed_deliveries", "LIMIT 5")
    assert "\"status\" = 'failed'" in constant.sql
    varying = _one(statements, "deliveries_in", "LIMIT 7")
    assert '"status" = $1' in varying.sql
