"""`analyze --database-url` and `verify` on the example, on a real database filled with its data.

The live mode must rest on the planner (HypoPG what-if costs agreeing with real EXPLAIN once the
index exists), on the data (BRIN where the timestamp follows the table, pg_stat_statements as a
workload) and must leave the database exactly as it found it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.helpers import (
    EXAMPLE,
    TempDatabase,
    create_database,
    drop_database,
    require_hypopg,
    run_cli,
    run_python,
)


def _indexes(conn: psycopg.Connection) -> set[tuple[str, str]]:
    """The database's indexes and extensions: what analysis and verify must leave alone."""
    return set(
        conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "UNION ALL SELECT 'extension', extname FROM pg_extension"
        ).fetchall()
    )


@pytest.fixture(scope="module")
def live_db(pg_server_url: str) -> Iterator[TempDatabase]:
    db = create_database(pg_server_url, prefix="idxadv_live_cli")
    try:
        migrate = run_python("manage.py", "migrate", "-v", "0", cwd=EXAMPLE, env=db.env)
        assert migrate.returncode == 0, migrate.stderr
        from benchmarks.datagen import generate

        with psycopg.connect(db.url, autocommit=True) as conn:
            # 1,000 channels: enough that the planner (and the advisor) take them seriously.
            generate(conn, scale=0.2)
            require_hypopg(conn)
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        yield db
    finally:
        drop_database(pg_server_url, db.name)


@pytest.fixture(scope="module")
def live_report(live_db: TempDatabase) -> dict[str, Any]:
    with psycopg.connect(live_db.url) as conn:
        before = _indexes(conn)
    result = run_cli(
        "analyze", str(EXAMPLE), "--database-url", live_db.url, "--format", "json", env=live_db.env
    )
    assert result.returncode == 0, result.stderr
    with psycopg.connect(live_db.url) as conn:
        assert _indexes(conn) == before, "analysis must not change the database"
        assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone()[0] == 0
    return json.loads(result.stdout)


def test_what_if_costs_are_reported_and_every_kept_index_lowers_them(live_report):
    recs = live_report["recommendations"]
    assert recs
    queries = {q["id"]: q for q in live_report["queries"]}
    for rec in recs:
        if rec["method"] == "gin":  # HypoPG cannot build GIN: kept on heuristics, and says so
            assert "Kept on heuristics" in rec["reason"]
            continue
        assert rec["estimated_size_bytes"] and rec["estimated_size_bytes"] > 0
        assert rec["benefit"] is not None and rec["benefit"] > 0
        for qid in rec["serves"]:
            q = queries[qid]
            assert q["cost_after"] < q["cost_before"], q
            assert q["index_used"] in {r["name"] for r in recs}, q


def test_brin_for_the_append_only_timestamp_under_a_range_filter(live_report):
    [brin] = [r for r in live_report["recommendations"] if r["method"] == "brin"]
    assert brin["table"] == "monitoring_integrationlog" and brin["fields"] == ["created_at"]
    assert "correlation" in brin["reason"]


def test_what_if_direction_agrees_with_real_explain(live_report, live_db):
    """Build the indexes for real: each query's generic-plan cost drops as HypoPG said."""
    queries = {q["id"]: q for q in live_report["queries"]}
    with psycopg.connect(live_db.url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for rec in live_report["recommendations"]:
                conn.execute(rec["sql"])
            conn.execute("ANALYZE")
            conn.execute("SET plan_cache_mode = force_generic_plan")
            for rec in live_report["recommendations"]:
                for qid in rec["serves"]:
                    q = queries[qid]
                    conn.execute(f"PREPARE p AS {q['sql']}")
                    n = q["sql"].count("$")
                    args = "(" + ", ".join(["NULL"] * n) + ")" if n else ""
                    plan = conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE p{args}").fetchone()[0]
                    conn.execute("DEALLOCATE p")
                    real = plan[0]["Plan"]["Total Cost"]
                    assert real < q["cost_before"], (rec["name"], qid, real, q["cost_before"])
        finally:
            for rec in live_report["recommendations"]:
                conn.execute(f'DROP INDEX IF EXISTS "{rec["name"]}"')
            conn.execute("DROP EXTENSION IF EXISTS pg_trgm")


def test_get_on_columns_unique_in_the_data_becomes_a_unique_index(live_report):
    [rec] = [r for r in live_report["recommendations"] if r["unique"]]
    assert rec["table"] == "monitoring_notificationchannel"
    assert sorted(rec["fields"]) == ["name", "organisation"]
    assert rec["sql"].startswith("CREATE UNIQUE INDEX CONCURRENTLY")
    assert rec["django"].startswith("models.UniqueConstraint(fields=")
    assert "no duplicates" in rec["reason"]


def test_candidates_that_do_not_pay_are_dropped_with_a_reason(live_db, tmp_path):
    workload = tmp_path / "extra.sql"
    workload.write_text(
        "-- a tiny table: a sequential scan reads a page or two\n"
        "SELECT * FROM auth_permission WHERE codename = %s;\n"
        "SELECT * FROM auth_permission WHERE codename = %s LIMIT 5;\n"
        "-- a column with a handful of values spread over every row\n"
        "SELECT * FROM monitoring_userprofile WHERE is_active = %s;\n"
    )

    def analyze(*output: str):
        run = run_cli(
            "analyze",
            str(EXAMPLE),
            "--no-static",
            "--workload",
            str(workload),
            "--database-url",
            live_db.url,
            *output,
            env=live_db.env,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    report = json.loads(analyze("--format", "json"))
    assert report["recommendations"] == []
    rejected = {tuple(r["columns"]): r["reason"] for r in report["rejected"]}
    assert "too small" in rejected[("codename",)]
    assert "threshold" in rejected[("is_active",)]
    # The table report does not close with "every analysed query is served": these were not.
    table = analyze()
    flat = " ".join(table.split())
    assert "every analysed query is served" not in flat
    assert "No new index proposed: 2 candidates considered and dropped" in flat
    # Two queries, one candidate, one reason: one row of "Considered and dropped".
    dropped = table.split("Considered and dropped", 1)[1]
    assert len(re.findall(r"│ auth_permission +│", dropped)) == 1, dropped


def test_pg_stat_statements_workload_drives_a_recommendation(live_db):
    with psycopg.connect(live_db.url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for code in (500, 502, 503):
            conn.execute(
                "SELECT id, status FROM monitoring_webhookdelivery "
                "WHERE response_code = %s AND attempts > 3",
                [code],
            ).fetchall()
    report = _live_json(live_db, "--no-static", "--from-pg-stat-statements")
    mine = [q for q in report["queries"] if "response_code" in q["sql"]]
    assert mine and mine[0]["source"] == "pg_stat_statements" and mine[0]["calls"] == 3
    recs = [r for r in report["recommendations"] if mine[0]["id"] in r["serves"]]
    assert recs and recs[0]["fields"][0] == "response_code"


def test_without_hypopg_it_says_so_once_and_keeps_the_heuristics(pg_server_url):
    db = create_database(pg_server_url, prefix="idxadv_nohypo")
    try:
        assert (
            run_python("manage.py", "migrate", "-v", "0", cwd=EXAMPLE, env=db.env).returncode == 0
        )
        from benchmarks.datagen import generate

        with psycopg.connect(db.url, autocommit=True) as conn:
            generate(conn, scale=0.05)
        result = run_cli(
            "analyze", str(EXAMPLE), "--database-url", db.url, "--format", "json", env=db.env
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert sum("HypoPG" in n for n in report["notes"]) == 1
        assert report["recommendations"]
        assert all(q["cost_before"] is None for q in report["queries"])
    finally:
        drop_database(pg_server_url, db.name)


def test_unreachable_database_is_one_line_exit_2_and_no_password():
    result = run_cli(
        "analyze", str(EXAMPLE), "--database-url", "postgresql://app:hunter2@127.0.0.1:1/shop"
    )
    assert result.returncode == 2
    # One error line (a "live mode: …" banner before it is fine, and is redacted too).
    errors = [line for line in result.stderr.splitlines() if line.startswith("idxadvisor: error")]
    assert len(errors) == 1, result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr


def test_verify_needs_allow_writes(live_db):
    result = run_cli("verify", str(EXAMPLE), "--database-url", live_db.url, env=live_db.env)
    assert result.returncode == 2
    assert "--allow-writes" in result.stderr


def test_verify_reports_real_timings_and_leaves_the_database_as_it_was(live_db):
    with psycopg.connect(live_db.url) as conn:
        before = _indexes(conn)
    result = run_cli(
        "verify",
        str(EXAMPLE),
        "--database-url",
        live_db.url,
        "--allow-writes",
        "--runs",
        "1",
        env=live_db.env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["query", "before", "ms"]
    timed = [line for line in lines[2:] if line.startswith("q_") and "x " in line]
    assert timed, result.stdout
    assert "built and dropped again:" in result.stdout
    assert "created extension pg_trgm, dropped again" in result.stdout  # for the trigram index
    with psycopg.connect(live_db.url) as conn:
        assert _indexes(conn) == before


def test_what_if_calls_are_counted_in_the_report(live_report):
    assert live_report["summary"]["whatif_calls"] > 0


def test_max_index_bytes_keeps_the_proposals_within_the_budget(live_db, live_report):
    sizes = sorted(
        r["estimated_size_bytes"]
        for r in live_report["recommendations"]
        if r["estimated_size_bytes"]
    )
    assert len(sizes) >= 2
    budget = sizes[0]  # room for the smallest index only
    result = run_cli(
        "analyze",
        str(EXAMPLE),
        "--database-url",
        live_db.url,
        "--format",
        "json",
        "--max-index-bytes",
        str(budget),
        env=live_db.env,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    measured = [
        r["estimated_size_bytes"] for r in report["recommendations"] if r["estimated_size_bytes"]
    ]
    assert sum(measured) <= budget
    assert any("index budget" in r["reason"] for r in report["rejected"])


def _live_json(db: TempDatabase, *args: str) -> dict[str, Any]:
    """``idxadvisor analyze EXAMPLE ARGS`` in live mode on ``db``, as JSON: the parsed report."""
    run = run_cli(
        "analyze",
        str(EXAMPLE),
        *args,
        "--database-url",
        db.url,
        "--format",
        "json",
        env=db.env,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_a_redundant_index_on_a_table_of_the_project_is_still_listed(temp_database):
    migrate = run_python("manage.py", "migrate", "-v", "0", cwd=EXAMPLE, env=temp_database.env)
    assert migrate.returncode == 0, migrate.stderr
    with psycopg.connect(temp_database.url, autocommit=True) as conn:
        conn.execute("CREATE INDEX extra_status ON monitoring_webhookdelivery (status)")
        conn.execute("CREATE INDEX extra_status_at ON monitoring_webhookdelivery (status, id)")
    listed = {r["name"]: r["covered_by"] for r in _live_json(temp_database)["redundant"]}
    assert listed.get("extra_status") == "extra_status_at", listed


def test_redundant_indexes_of_installed_packages_are_a_note_not_a_listing(live_report):
    # django.contrib.auth's auth_user_groups: its user_id FK index is a prefix of its unique
    # (user_id, group_id) by Django's design; listing it under "made redundant" asked the user
    # to fight a package's migrations. The project's own tables are still listed.
    listed = {r["table"] for r in live_report["redundant"]}
    assert not {t for t in listed if t.startswith(("auth_", "django_"))}, listed
    [note] = [n for n in live_report["notes"] if "tables of installed packages" in n]
    assert "auth_user_groups" in note
