"""Live-mode decisions need evidence the role can actually see (issue 10).

* a role that cannot read one table (no SELECT, or no USAGE on its schema) still gets the
  rest of the analysis, and is told which GRANT would help;
* a UNIQUE proposal needs enough rows with the columns set, not just "no duplicates";
* "unused" needs scan statistics old enough to mean something, and a foreign-key index is
  never called unused without saying what it serves.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from idxadvisor.advisor.statistics import UNIQUE_MIN_ROWS
from idxadvisor.live.connection import connect_readonly
from idxadvisor.live.housekeeping import MIN_STATS_AGE, unused_indexes
from idxadvisor.live.refine import unused_notes
from idxadvisor.live.uniqueness import confirm_unique
from idxadvisor.schema.catalog import read_schema, table_access
from tests.helpers import (
    EXAMPLE,
    TempDatabase,
    create_database,
    drop_database,
    require_hypopg,
    run_cli,
    run_python,
)


def _migrated(pg_server_url: str, prefix: str) -> TempDatabase:
    db = create_database(pg_server_url, prefix=prefix)
    migrate = run_python("manage.py", "migrate", "-v", "0", cwd=EXAMPLE, env=db.env)
    assert migrate.returncode == 0, migrate.stderr
    return db


@pytest.fixture(scope="module")
def filled_db(pg_server_url: str) -> Iterator[TempDatabase]:
    """The example, migrated and filled (small scale), with HypoPG: a fresh database."""
    db = _migrated(pg_server_url, "idxadv_evidence")
    try:
        from benchmarks.datagen import generate

        with psycopg.connect(db.url, autocommit=True) as conn:
            generate(conn, scale=0.05)
            require_hypopg(conn)
        yield db
    finally:
        drop_database(pg_server_url, db.name)


@contextmanager
def _login_role(db: TempDatabase, server_url: str) -> Iterator[str]:
    """A new login role, dropped (with its grants in ``db``) whatever happens: roles are
    cluster-wide."""
    name = f"idxadv_role_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier(name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    try:
        yield name
    finally:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


@pytest.fixture
def role(filled_db: TempDatabase, pg_server_url: str) -> Iterator[str]:
    """A login role that can read every table of the example; the test takes some away."""
    with (
        _login_role(filled_db, pg_server_url) as name,
        psycopg.connect(filled_db.url, autocommit=True) as conn,
    ):
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(name)
            )
        )
        yield name


def _role_url(db: TempDatabase, role: str) -> str:
    return f"postgresql://{role}@127.0.0.1:5432/{db.name}"


def _analyze(db: TempDatabase, url: str) -> dict[str, Any]:
    result = run_cli("analyze", str(EXAMPLE), "--database-url", url, "--format", "json", env=db.env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


# -- 1. a missing privilege ------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "monitoring_notificationchannel",  # the .get() unique check
        "monitoring_webhookdelivery",  # what-if costs
        "monitoring_integrationlog",
    ],
)
def test_a_table_the_role_cannot_read_is_left_out_with_the_grant(
    filled_db: TempDatabase, role: str, table: str
) -> None:
    with psycopg.connect(filled_db.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("REVOKE SELECT ON {} FROM {}").format(
                sql.Identifier(table), sql.Identifier(role)
            )
        )
    report = _analyze(filled_db, _role_url(filled_db, role))
    everything = json.dumps(report)
    assert "does not exist" not in everything
    [note] = [n for n in report["notes"] if f"cannot read {table}" in n]
    assert f"GRANT SELECT ON {table} TO {role}" in note and "\n" not in note
    # Nothing on that table claims the planner's or the data's backing …
    mine = [r for r in report["recommendations"] if r["table"] == table]
    for rec in mine:
        assert rec["benefit"] is None and not rec["unique"]
        assert f"GRANT SELECT ON {table} TO {role}" in rec["reason"]
    queries = {q["id"]: q for q in report["queries"]}
    for rec in mine:
        assert all(queries[qid]["cost_before"] is None for qid in rec["serves"])
    # … and the rest of the run went on: other tables' proposals are costed by the planner,
    # unless every query they serve also reads the hidden table (a join), which they then say.
    others = [r for r in report["recommendations"] if r["table"] != table and r["method"] != "gin"]
    assert any(r["benefit"] for r in others), others
    for rec in others:
        if not rec["benefit"]:
            assert f"GRANT SELECT ON {table} TO {role}" in rec["reason"], rec
            assert all(table in queries[qid]["tables"] for qid in rec["serves"]), rec


def test_a_table_in_a_schema_without_usage_says_grant_usage(
    filled_db: TempDatabase, role: str
) -> None:
    table = "monitoring_notificationchannel"
    with psycopg.connect(filled_db.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA vault")
        conn.execute(sql.SQL("ALTER TABLE {} SET SCHEMA vault").format(sql.Identifier(table)))
        # The role looks in vault too, but may not use it: the table is invisible to it.
        conn.execute(
            sql.SQL("ALTER ROLE {} SET search_path = public, vault").format(sql.Identifier(role))
        )
    try:
        report = _analyze(filled_db, _role_url(filled_db, role))
    finally:
        with psycopg.connect(filled_db.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER TABLE vault.{} SET SCHEMA public").format(sql.Identifier(table))
            )
            conn.execute("DROP SCHEMA vault")
    assert "does not exist" not in json.dumps(report)
    [note] = [n for n in report["notes"] if f"cannot read {table}" in n]
    assert f"GRANT USAGE ON SCHEMA vault TO {role}" in note


def test_table_access_names_the_missing_privilege(filled_db: TempDatabase, role: str) -> None:
    with psycopg.connect(filled_db.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("REVOKE SELECT ON monitoring_alertrule FROM {}").format(sql.Identifier(role))
        )
    with connect_readonly(_role_url(filled_db, role)) as db:
        names = ["monitoring_alertrule", "monitoring_userprofile", "no_such_table"]
        access = table_access(db, names)
        schema = read_schema(db, ["monitoring_alertrule", "monitoring_userprofile"])
    assert set(access) == {"monitoring_alertrule", "no_such_table"}
    assert f"GRANT SELECT ON monitoring_alertrule TO {role}" in access["monitoring_alertrule"]
    assert "no table" in access["no_such_table"]
    # pg_stats shows a role only the tables it can read.
    assert all(c.stats is None for c in schema.tables["monitoring_alertrule"].columns)
    assert any(c.stats for c in schema.tables["monitoring_userprofile"].columns)


def test_pg_stat_statements_of_other_users_hidden_names_pg_read_all_stats(
    filled_db: TempDatabase, role: str
) -> None:
    with psycopg.connect(filled_db.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for code in (500, 502):
            conn.execute(
                "SELECT id FROM monitoring_webhookdelivery WHERE response_code = %s", [code]
            ).fetchall()
    result = run_cli(
        "analyze",
        str(EXAMPLE),
        "--no-static",
        "--from-pg-stat-statements",
        "--database-url",
        _role_url(filled_db, role),
        "--format",
        "json",
        env=filled_db.env,
    )
    assert result.returncode == 0, result.stderr
    reasons = [s["reason"] for s in json.loads(result.stdout)["skipped"]]
    assert any("hidden" in r and "pg_read_all_stats" in r for r in reasons), reasons


# -- 2. UNIQUE from no data ------------------------------------------------------------------


@pytest.fixture(scope="module")
def channels_db(pg_server_url: str) -> Iterator[TempDatabase]:
    """The example, migrated, with one owner profile; each test sets the channel count."""
    db = _migrated(pg_server_url, "idxadv_unique_evidence")
    try:
        with psycopg.connect(db.url, autocommit=True) as conn:
            require_hypopg(conn)
            conn.execute("""
                INSERT INTO auth_user (id, password, is_superuser, username, first_name,
                                       last_name, email, is_staff, is_active, date_joined)
                VALUES (1, '', false, 'u', '', '', '', false, true, now())""")
            conn.execute("""
                INSERT INTO monitoring_userprofile (id, user_id, organisation, email,
                                                    display_name, timezone, is_active,
                                                    preferences, created_at)
                VALUES (1, 1, 1, 'u@example.com', 'u', 'UTC', true, '{}', now())""")
        yield db
    finally:
        drop_database(pg_server_url, db.name)


def _fill_channels(db: TempDatabase, n: int, *, analyze: bool = True) -> None:
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("TRUNCATE monitoring_notificationchannel CASCADE")
        conn.execute(
            """
            INSERT INTO monitoring_notificationchannel
                (organisation, owner_id, name, kind, target_url, config, created_at)
            SELECT 1 + g %% 40, 1, 'channel ' || g, 'email', '', '{}', now()
            FROM generate_series(1, %s) g""",
            [n],
        )
        if analyze:
            conn.execute("ANALYZE monitoring_notificationchannel")


@pytest.mark.parametrize(
    ("rows", "analyze"), [(0, False), (0, True), (12, True), (UNIQUE_MIN_ROWS - 1, True)]
)
def test_no_unique_proposal_from_too_few_rows(
    channels_db: TempDatabase, rows: int, analyze: bool
) -> None:
    _fill_channels(channels_db, rows, analyze=analyze)
    report = _analyze(channels_db, channels_db.url)
    assert not [r for r in report["recommendations"] if r["unique"]], report["recommendations"]
    says = [
        n
        for n in report["notes"] + [r["reason"] for r in report["recommendations"]]
        if "not proposed as unique" in n.lower()
    ]
    assert says, report["notes"]
    assert f"has {rows:,} rows" in says[0] and "too few" in says[0]
    assert "monitoring_notificationchannel" in says[0]


def test_unique_proposal_with_enough_rows_and_no_duplicates(channels_db: TempDatabase) -> None:
    _fill_channels(channels_db, UNIQUE_MIN_ROWS + 500)
    report = _analyze(channels_db, channels_db.url)
    [rec] = [r for r in report["recommendations"] if r["unique"]]
    assert rec["table"] == "monitoring_notificationchannel"
    # The count stops at the threshold: it proves "enough" without reading the whole table.
    assert "no duplicates" in rec["reason"]
    assert f"at least {UNIQUE_MIN_ROWS:,} rows" in rec["reason"]


def test_rows_with_nulls_do_not_count_as_evidence(temp_database: TempDatabase) -> None:
    with temp_database.connect(autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE t (id serial PRIMARY KEY, code int, label text NOT NULL);
            INSERT INTO t (code, label)
            SELECT CASE WHEN g <= 20 THEN g END, 'l' || g FROM generate_series(1, 5000) g;
            ANALYZE t;""")
    with connect_readonly(temp_database.url) as db:
        table = read_schema(db, ["t"]).tables["t"]
        sparse = confirm_unique(db, table, ["code"])
        full = confirm_unique(db, table, ["label"])
    assert sparse.unique is None and sparse.rows == 20
    assert "20 rows with code set" in sparse.checked and "too few" in sparse.checked
    assert full.unique is True and full.rows is not None and full.rows >= UNIQUE_MIN_ROWS


# -- 3. "unused" on a fresh database -----------------------------------------------------------


@pytest.mark.parametrize("reset", [False, True])
def test_no_unused_report_on_young_statistics(filled_db: TempDatabase, reset: bool) -> None:
    if reset:
        with psycopg.connect(filled_db.url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_reset()")
    report = _analyze(filled_db, filled_db.url)
    assert not [n for n in report["notes"] if re.match(r"unused index \S+ on ", n)], report["notes"]
    [note] = [n for n in report["notes"] if "unused indexes not reported" in n]
    assert "days" in note and f"{MIN_STATS_AGE.days} days" in note
    assert ("reset" in note) is reset


def test_unknown_statistics_age_is_not_taken_as_old(
    temp_database: TempDatabase, pg_server_url: str
) -> None:
    # Never reset, and a plain role cannot read the database's creation time: the server's
    # start says nothing about a database created later, so the age is unknown, not old.
    with temp_database.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int); CREATE INDEX t_a ON t (a)")
    with _login_role(temp_database, pg_server_url) as name:
        with connect_readonly(_role_url(temp_database, name)) as db:
            found = unused_indexes(db, min_age=timedelta(0))
        with connect_readonly(temp_database.url) as db:  # a superuser may read it
            known = unused_indexes(db, min_age=timedelta(0))
    assert found.indexes == () and found.age.since is None
    assert found.skipped_reason and "not reported" in found.skipped_reason
    assert f"pg_stat_file(text, boolean) TO {name}" in found.skipped_reason
    assert known.age.since is not None and [u.name for u in known.indexes] == ["t_a"]


def test_foreign_key_indexes_say_what_they_serve(filled_db: TempDatabase) -> None:
    with psycopg.connect(filled_db.url) as conn:
        fk_columns = set(
            conn.execute("""
            SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND cardinality(c.conkey) = 1""").fetchall()
        )
    with connect_readonly(filled_db.url) as db:
        young = unused_indexes(db)
        found = unused_indexes(db, min_age=timedelta(0))
    assert young.indexes == () and young.skipped_reason
    assert young.age.age is not None and young.age.age < MIN_STATS_AGE
    assert found.skipped_reason is None and found.indexes
    fk_indexes = [u for u in found.indexes if (u.table, u.columns[0]) in fk_columns]
    assert fk_indexes, found.indexes
    for u in found.indexes:
        assert (u.foreign_key is not None) == ((u.table, u.columns[0]) in fk_columns), u
    notes = unused_notes(found, {u.table for u in found.indexes})
    assert len(notes) == len(found.indexes)
    for u, note in zip(found.indexes, notes, strict=True):
        assert note.startswith(f"unused index {u.name} ") and "\n" not in note
        assert "days" in note
        if u.foreign_key:
            assert "foreign key" in note and "ON DELETE" in note
