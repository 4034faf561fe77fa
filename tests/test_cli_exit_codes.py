"""Exit codes (0 ran, 1 findings, 2 bad input, 3 internal error), `--debug`, and the live-mode
announcement, through the real command line in subprocesses.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, run_cli, run_python, url_for_database

INTERNAL = re.compile(
    r"idxadvisor: internal error: (\w+): .+ \(rerun with --debug for the traceback\)"
)

# A bug, for real: a command added to the real group that really recurses / really fails.
BUGGY_CLI = textwrap.dedent("""
    import sys
    from idxadvisor.cli import main

    def down(n):
        return down(n + 1) + 1

    @main.command("recurse")
    def recurse():
        down(0)

    @main.command("keyerror")
    def keyerror():
        {}["missing"]

    @main.command("nested")
    def nested():
        def a(n):
            return b(n + 1)
        def b(n):
            return a(n + 1)
        a(0)

    main()
""")


def buggy(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    script = tmp_path / "buggy_cli.py"
    script.write_text(BUGGY_CLI)
    return run_python(str(script), *args, cwd=tmp_path, env={"IDXADVISOR_DEBUG": "", **(env or {})})


@pytest.mark.parametrize(
    ("command", "exc_type"),
    [
        ("recurse", "RecursionError"),
        ("nested", "RecursionError"),
        ("keyerror", "KeyError"),
    ],
)
def test_internal_error_is_one_line_and_exit_3(tmp_path: Path, command: str, exc_type: str):
    result = buggy(tmp_path, command)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[:2000]
    found = INTERNAL.fullmatch(lines[0])
    assert found and found.group(1) == exc_type, lines[0]


@pytest.mark.parametrize("how", ["option", "environment"])
@pytest.mark.parametrize("command", ["recurse", "nested"])
def test_debug_shows_a_bounded_traceback(tmp_path: Path, how: str, command: str):
    if how == "option":
        result = buggy(tmp_path, "--debug", command)
    else:
        result = buggy(tmp_path, command, env={"IDXADVISOR_DEBUG": "1"})
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "RecursionError" in result.stderr
    assert len(lines) < 200, len(lines)
    assert lines[-1].startswith("idxadvisor: internal error: RecursionError: ")
    assert "rerun with --debug" not in lines[-1]


@pytest.mark.parametrize(
    "args",
    [
        ("analyze", "--workload", "no-such-file.sql", "--no-static"),
        ("analyze", "/no/such/project"),
        ("generate", "/no/such/project"),
        ("analyze", str(EXAMPLE), "--database-url", "postgresql://u:pw@127.0.0.1:1/x"),
        ("check", "--explain", "IDX999"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...]):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    lines = [
        line for line in result.stderr.splitlines() if not line.startswith("idxadvisor: live mode:")
    ]
    assert len(lines) == 1 and lines[0].startswith("idxadvisor: error: "), result.stderr
    assert "pw@" not in result.stderr


@pytest.mark.parametrize(
    "config",
    [
        'use_settings_db = "yes"',
        "database_url_env = 42",
        'database_url_env = "NOT A NAME"',
        'database_url_env = "DATABASE_URL"\nuse_settings_db = true',
    ],
)
def test_bad_live_settings_in_pyproject_are_exit_2(example_copy: Path, config: str):
    (example_copy / "pyproject.toml").write_text(f"[tool.idxadvisor]\n{config}\n")
    result = run_cli("generate", str(example_copy), "--dry-run")
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("idxadvisor: error: ") and "[tool.idxadvisor]" in line


@pytest.mark.parametrize(
    "args", [("analyze", "--no-such-option"), ("nosuchcommand",), ("verify", "--runs", "0")]
)
def test_click_usage_errors_stay_exit_2(args: tuple[str, ...]):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_findings_exit_1_only_when_asked():
    plain = run_cli("analyze", str(EXAMPLE), "--format", "json")
    failing = run_cli("analyze", str(EXAMPLE), "--format", "json", "--fail-on-recommendations")
    checked = run_cli("check", "monitoring/queries.py", cwd=EXAMPLE)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["recommendations"]  # there is something to fail on
    assert failing.returncode == 1, failing.stderr
    assert checked.returncode == 1, checked.stderr


@pytest.mark.parametrize(
    "command", [(), ("analyze",), ("check",), ("generate",), ("verify",), ("capture",)]
)
def test_help_documents_the_exit_codes(command: tuple[str, ...]):
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "Exit status:" in text
    assert "3 internal error" in text or "3 on an internal error" in text
    assert "2 bad input" in text or "2 on bad input" in text


# --- live mode ----------------------------------------------------------------------------------


def cli_with_environment(*args: str, env: dict[str, str], cwd: Path | None = None):
    """The CLI with DATABASE_URL really in its environment (run_cli turns it into PG* vars)."""
    return run_python("-m", "idxadvisor", *args, cwd=cwd or Path.cwd(), env=env)


def test_generate_ignores_database_url_in_the_environment(example_copy: Path):
    # An unreachable server: connecting at all would fail the run.
    env = {"DATABASE_URL": "postgresql://app:s3cret@127.0.0.1:1/app"}
    result = cli_with_environment("generate", str(example_copy), "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "live mode" not in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert "would write monitoring/migrations/0002_idxadvisor_" in result.stderr


def test_generate_live_mode_by_pyproject_opt_in(example_copy: Path, temp_database):
    (example_copy / "pyproject.toml").write_text(
        '[tool.idxadvisor]\ndatabase_url_env = "APP_DATABASE_URL"\n'
    )
    result = cli_with_environment(
        "generate", str(example_copy), "--dry-run", env={"APP_DATABASE_URL": temp_database.url}
    )
    first = result.stderr.splitlines()[0]
    user_host = re.sub(r"^postgresql://([^:@/]+)(:[^@]*)?@", r"postgresql://\1@", temp_database.url)
    assert first == (
        f"idxadvisor: live mode: {user_host} (from APP_DATABASE_URL, per "
        "[tool.idxadvisor] database_url_env), read-only"
    ), result.stderr
    assert result.returncode == 0, result.stderr


def test_generate_opt_in_with_its_variable_unset_says_so(example_copy: Path):
    (example_copy / "pyproject.toml").write_text(
        '[tool.idxadvisor]\ndatabase_url_env = "APP_DATABASE_URL"\n'
    )
    result = cli_with_environment(
        "generate", str(example_copy), "--dry-run", env={"APP_DATABASE_URL": ""}
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        'idxadvisor: note: [tool.idxadvisor] database_url_env = "APP_DATABASE_URL" but '
        "APP_DATABASE_URL is not set: no database"
    )


def _with_password(url: str, shape: str, password: str) -> str:
    """The test database's URL written in one of libpq's shapes, carrying a password (the test
    server trusts, so the password is never checked but must never be shown)."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(url)
    host, port, user, db = p.get("host"), p.get("port", "5432"), p.get("user"), p["dbname"]
    if shape == "url":
        return f"postgresql://{user}:{password}@{host}:{port}/{db}"
    if shape == "query":
        return f"postgresql://{user}@{host}:{port}/{db}?password={password}"
    return f"host={host} port={port} user={user} password='{password}' dbname={db}"


@pytest.mark.parametrize("shape", ["url", "query", "keyvalue"])
def test_analyze_announces_live_mode_first_without_the_password(
    tmp_path: Path, temp_database, shape: str
):
    password = "s3cret"
    url = _with_password(temp_database.url, shape, password)
    sql = tmp_path / "slow.sql"
    sql.write_text("SELECT * FROM pg_class WHERE relname = %s;\n")
    result = run_cli("analyze", "--workload", str(sql), "--database-url", url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    expected = url_for_database(temp_database.url, temp_database.name)
    assert first == f"idxadvisor: live mode: {expected}, read-only", result.stderr
    assert password not in result.stdout + result.stderr


def test_analyze_says_when_the_url_came_from_database_url(tmp_path: Path, temp_database):
    sql = tmp_path / "slow.sql"
    sql.write_text("SELECT * FROM pg_class WHERE relname = %s;\n")
    url = _with_password(temp_database.url, "url", "s3cret")
    result = cli_with_environment(
        "analyze", "--workload", str(sql), env={"DATABASE_URL": url}, cwd=tmp_path
    )
    first = result.stderr.splitlines()[0]
    expected = url_for_database(temp_database.url, temp_database.name)
    assert first == f"idxadvisor: live mode: {expected} (from DATABASE_URL), read-only"
    assert "s3cret" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stderr


def test_verify_announces_that_it_writes(tmp_path: Path, temp_database):
    sql = tmp_path / "slow.sql"
    sql.write_text("SELECT * FROM pg_class WHERE relname = %s;\n")
    result = run_cli(
        "verify",
        "--workload",
        str(sql),
        "--database-url",
        temp_database.url,
        "--allow-writes",
        cwd=tmp_path,
    )
    first = result.stderr.splitlines()[0]
    expected = url_for_database(temp_database.url, temp_database.name)
    assert first == (
        f"idxadvisor: live mode: {expected}, writes allowed: builds and drops indexes"
    ), result.stderr


def test_a_spawned_worker_importing_main_does_not_run_the_cli() -> None:
    # The parse pool uses spawn: each worker imports the parent's __main__ as __mp_main__.
    import subprocess
    import sys

    code = (
        "import runpy, sys; sys.argv = ['idxadvisor', '--version']; "
        "runpy.run_module('idxadvisor.__main__', run_name='__mp_main__'); print('imported')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imported"


def test_a_compiled_sqlglot_of_another_version_is_a_one_line_error(tmp_path: Path):
    # sqlglotc's compiled modules shadow sqlglot's own files: of another version sqlglot fails
    # to import. An installed sqlglotc distribution of another version, found on the path:
    dist = tmp_path / "sqlglotc-0.0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sqlglotc\nVersion: 0.0.1\n")
    result = run_cli("analyze", str(EXAMPLE), env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("idxadvisor: error: sqlglotc 0.0.1 does not match sqlglot ")
    assert "pip uninstall sqlglotc" in line
