"""Live-mode execution safety (issue 10): hostile workload statements never run on the server,
and no text derived from a connection string shows its password.

Every check of "nothing changed" is made from a second connection: rows, sequence values,
catalog entries and the write counters of ``pg_stat_user_tables``; a control write proves the
counters would show a change.
"""

from __future__ import annotations

import doctest
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

import idxadvisor.sql.statements as statements_module
from idxadvisor.errors import DatabaseError
from idxadvisor.live.connection import (
    connect_readonly,
    describe_target,
    ensure_read_only,
    redact,
    send_one,
    url_problem,
)
from idxadvisor.live.verify import verify
from idxadvisor.live.whatif import PlanError, WhatIf
from idxadvisor.sql.statements import (
    Kind,
    RefusedStatement,
    classify,
    explain_refusal,
    split_statements,
)
from idxadvisor.types.advice import IndexCandidate, Recommendation
from idxadvisor.types.schema import IndexElement
from idxadvisor.types.workload import Query
from tests.helpers import TempDatabase, create_database, drop_database, require_hypopg, run_cli

# -- the statement classifier ------------------------------------------------------------------


def test_statement_doctests() -> None:
    assert doctest.testmod(statements_module).failed == 0


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("SELECT 1", 1),
        ("SELECT 1;", 1),
        (";; SELECT 1 ;;", 1),
        ("SELECT 'a;b'", 1),
        ("SELECT 'it''s; fine'", 1),
        ("SELECT E'it\\'s; fine'", 1),
        ("SELECT E'\\\\'; SELECT 2", 2),  # E'\\' is one backslash: the ; is outside
        ("SELECT '\\'; SELECT 2", 2),  # standard string: the backslash is an ordinary character
        ('SELECT 1 AS "a;b"', 1),
        ('SELECT 1 AS "a"";b"', 1),
        ("SELECT $$;$$", 1),
        ("SELECT $tag$ $$ ; $tag$", 1),
        ("SELECT $a$;$A$; $a$", 1),  # tags are case-sensitive
        ("SELECT a$$b FROM t; SELECT 2", 2),  # $ inside an identifier opens no quote
        ("SELECT $1; SELECT $2", 2),
        ("SELECT 1 -- ; DELETE\n", 1),
        ("SELECT 1 /* ; /* nested ; */ still ; */", 1),
        ("SELECT 1 /* a */; /* only a comment */ ;", 1),
        ("SELECT 1; COMMIT; BEGIN READ WRITE; INSERT INTO t VALUES (1)", 4),
        ("DO $$BEGIN PERFORM 1; PERFORM 2; END$$", 1),
        ("SELECT\u00a0; SELECT 2", 2),  # U+00A0 is an identifier character to PostgreSQL
        ("", 0),
        ("-- nothing", 0),
    ],
)
def test_statements_are_counted_like_the_server(text: str, count: int) -> None:
    assert classify(text).statements == count
    assert len(split_statements(text)) == count


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("select 1", Kind.SELECT),
        ("(SELECT 1) UNION SELECT 2", Kind.SELECT),
        ("VALUES (1)", Kind.SELECT),
        ("TABLE t", Kind.SELECT),
        ("WITH x AS (SELECT 1) SELECT * FROM x", Kind.SELECT),
        ("WITH x(a) AS MATERIALIZED (SELECT 1) INSERT INTO t SELECT a FROM x", Kind.INSERT),
        ("WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM r) DELETE FROM t", Kind.DELETE),
        ("INSERT INTO t VALUES (1)", Kind.INSERT),
        ("UPDATE t SET a = 1", Kind.UPDATE),
        ("DELETE FROM t", Kind.DELETE),
        ("MERGE INTO t USING u ON true DO NOTHING", Kind.MERGE),
        ("CREATE TABLE x (a int)", Kind.DDL),
        ("DROP TABLE t", Kind.DDL),
        ("TRUNCATE t", Kind.DDL),
        ("ALTER TABLE t ADD b int", Kind.DDL),
        ("GRANT ALL ON t TO public", Kind.DDL),
        ("BEGIN READ WRITE", Kind.TRANSACTION),
        ("COMMIT", Kind.TRANSACTION),
        ("START TRANSACTION", Kind.TRANSACTION),
        ("PREPARE TRANSACTION 'x'", Kind.TRANSACTION),
        ("ROLLBACK", Kind.TRANSACTION),
        ("SAVEPOINT a", Kind.TRANSACTION),
        ("COPY t TO PROGRAM 'sh'", Kind.COPY),
        ("SET transaction_read_only = off", Kind.UTILITY),
        ("SHOW all", Kind.UTILITY),
        ("VACUUM t", Kind.UTILITY),
        ("LOCK t", Kind.UTILITY),
        ("DO $$ $$", Kind.UTILITY),
        ("CALL p()", Kind.UTILITY),
        ("LISTEN c", Kind.UTILITY),
        ("PREPARE p AS SELECT 1", Kind.UTILITY),
        ("EXECUTE p", Kind.UTILITY),
        ("DEALLOCATE ALL", Kind.UTILITY),
        ("DISCARD ALL", Kind.UTILITY),
        ("EXPLAIN ANALYZE DELETE FROM t", Kind.UTILITY),
        ("FROBNICATE", Kind.OTHER),
        ("'x'", Kind.OTHER),
        ("", Kind.EMPTY),
    ],
)
def test_statement_kinds(text: str, kind: Kind) -> None:
    assert classify(text).kind is kind


@pytest.mark.parametrize(
    ("text", "plain", "explainable"),
    [
        ("SELECT * FROM t WHERE a = $1", True, True),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", False, True),
        ("WITH d AS (SELECT 1), u AS (UPDATE t SET a = 1 RETURNING a) SELECT 1", False, True),
        ("SELECT * FROM t FOR UPDATE", False, True),
        ("SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", False, True),
        ("SELECT * FROM (SELECT * FROM t FOR SHARE) s", False, True),
        ("SELECT * INTO newt FROM t", False, False),
        ("UPDATE t SET a = 1", False, True),
        ("SELECT 1; SELECT 2", False, False),
        ("SELECT 'unterminated", False, False),
        ("SELECT 1 /* unterminated", False, False),
        ("SELECT $x$ unterminated", False, False),
        ("SELECT '\x00'", False, False),
    ],
)
def test_guard_for_explain_and_explain_analyze(text: str, plain: bool, explainable: bool) -> None:
    assert classify(text).plain_select is plain
    assert (explain_refusal(text, analyze=True) is None) is plain
    assert (explain_refusal(text) is None) is explainable


# -- the server refuses what the guard would have let through ------------------------------------


@dataclass(frozen=True)
class Target:
    db: TempDatabase
    marker: Path  # a file COPY … TO PROGRAM would create


TARGET_SETUP = """
CREATE SEQUENCE s;
CREATE TABLE t (id bigserial PRIMARY KEY, a int NOT NULL, note text NOT NULL,
                created_at timestamptz NOT NULL);
INSERT INTO t (a, note, created_at)
SELECT g % 500, 'n' || (g % 37), timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 30000) g;
SELECT nextval('s');
ANALYZE t;
"""


@pytest.fixture
def target(pg_server_url: str, tmp_path: Path) -> Iterator[Target]:
    db = create_database(pg_server_url, prefix="idxadv_safety")
    try:
        with db.connect(autocommit=True) as conn:
            conn.execute(TARGET_SETUP)
            require_hypopg(conn)
        yield Target(db, tmp_path / f"pwned_{uuid.uuid4().hex[:8]}")
    finally:
        drop_database(pg_server_url, db.name)


def state(db: TempDatabase) -> dict[str, object]:
    """What a write would change, read from a second connection."""
    with db.connect(autocommit=True) as conn:
        return {
            "rows": conn.execute(
                "SELECT count(*), sum(a), max(id), md5(string_agg(note, ',' ORDER BY id)) FROM t"
            ).fetchone(),
            "sequence": conn.execute("SELECT last_value, is_called FROM s").fetchone(),
            "t_id_seq": conn.execute("SELECT last_value FROM t_id_seq").fetchone(),
            "catalog": conn.execute(
                "SELECT count(*), md5(string_agg(relname::text || relkind::text, ',' "
                "ORDER BY relname)) "
                "FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            ).fetchone(),
            "prepared_xacts": conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone(),
        }


def write_counters(db: TempDatabase) -> tuple:
    with db.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute(
            "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), "
            "coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables"
        ).fetchone()


def assert_no_write(db: TempDatabase, before: dict[str, object], counters: tuple) -> None:
    """Same state, and the write counters stay put while stats of ended sessions arrive (PG15
    flushes a backend's counters when it goes idle for up to 1 s, or exits)."""
    assert state(db) == before
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert write_counters(db) == counters
        time.sleep(0.25)


def assert_counters_see_writes(db: TempDatabase, counters: tuple) -> None:
    """The control: a real write shows up in the counters, so "unchanged" above means it."""
    with db.connect(autocommit=True) as conn:
        conn.execute("INSERT INTO t (a, note, created_at) VALUES (1, 'control', now())")
    deadline = time.monotonic() + 5
    while write_counters(db) == counters:
        assert time.monotonic() < deadline, "pg_stat_user_tables never showed the control write"
        time.sleep(0.2)


def test_server_refuses_a_second_statement_sent_by_send_one(target: Target) -> None:
    with target.db.connect(autocommit=True) as conn:
        # psycopg without parameters uses the simple protocol: both statements would run …
        cursor = conn.execute("SELECT 1; SELECT 2")
        assert cursor.nextset() and cursor.fetchone() == (2,)
        # … send_one uses the extended protocol: the server itself refuses the chain.
        with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"):
            send_one(conn, "SELECT 1; INSERT INTO t (a, note, created_at) VALUES (1, 'x', now())")
        with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"):
            send_one(conn, "PREPARE p AS SELECT 1; DELETE FROM t")


def test_read_only_check_stops_a_session_that_is_not_safe(target: Target) -> None:
    with connect_readonly(target.db.url) as db, db.transaction() as conn:
        ensure_read_only(conn)
        # The lexer's view of strings must stay the server's.
        conn.execute("SET LOCAL standard_conforming_strings = off")
        with pytest.raises(RefusedStatement, match="not read-only any more"):
            ensure_read_only(conn)
    # A read-write transaction: nothing is sent there.
    with target.db.connect() as conn, pytest.raises(RefusedStatement, match="read-only"):
        ensure_read_only(conn)


HOSTILE = [
    "SELECT id FROM t WHERE a = 5 LIMIT 10; COMMIT; BEGIN READ WRITE; "
    "INSERT INTO t (a, note, created_at) VALUES (1, 'x', now()); UPDATE t SET a = a + 1; "
    "SELECT nextval('s'); COMMIT; SELECT 1",
    "SELECT id FROM t WHERE a = 6; DELETE FROM t WHERE a = 6",
    "SELECT id FROM t WHERE a = 7 AND note = 'a'';'; TRUNCATE t",
    "SELECT $x$ ; $x$ FROM t WHERE a = 8; INSERT INTO t (a, note, created_at) "
    "VALUES (9, 'y', now())",
    "COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
    "CREATE TABLE pwned (a int)",
    "DROP TABLE t",
    "SET transaction_read_only = off",
    "WITH d AS (DELETE FROM t WHERE a < 100 RETURNING id) SELECT * FROM d WHERE id = 5",
    "DO $$BEGIN INSERT INTO t (a, note, created_at) VALUES (2, 'z', now()); END$$",
    "SELECT id FROM t WHERE a = 11 FOR UPDATE",
    "SELECT nextval('s') FROM t WHERE a = 12",
    # Not a write (out of scope, noted): signals another backend; READ ONLY allows it.
    "SELECT pg_terminate_backend(0) FROM t WHERE a = 13",
]
BENIGN = "SELECT id FROM t WHERE a = $1 /* ; */ AND note <> ';'"


def hostile_texts(target: Target) -> list[str]:
    return [h.replace("{marker}", str(target.marker)) for h in HOSTILE]


def test_whatif_refuses_chains_and_never_writes(target: Target) -> None:
    before, counters = state(target.db), write_counters(target.db)
    with connect_readonly(target.db.url) as db:
        whatif = WhatIf(db)
        reasons = {}
        for text in hostile_texts(target):
            try:
                whatif.cost(text)
            except PlanError as exc:
                reasons[text] = str(exc)
        assert whatif.cost(BENIGN).total_cost > 0
    assert_no_write(target.db, before, counters)
    assert not target.marker.exists()
    for text in hostile_texts(target)[:4]:
        assert "statements in one text" in reasons[text]
    for verb in ("COPY", "CREATE", "DROP", "SET", "DO"):
        assert any(
            r.startswith("not sent to the server: a ") and f"({verb})" in r
            for r in reasons.values()
        ), verb
    assert_counters_see_writes(target.db, counters)


def test_verify_skips_hostile_statements_and_executes_only_plain_selects(target: Target) -> None:
    before, counters = state(target.db), write_counters(target.db)
    texts = hostile_texts(target)
    queries = [Query(f"q{i}", t, t, "sql") for i, t in enumerate([*texts, BENIGN])]
    t_a_idx = Recommendation(IndexCandidate("t", (IndexElement("a"),)), "t_a_idx", "", "")
    report = verify(target.db.url, [t_a_idx], queries, runs=1)
    after = state(target.db)
    assert after == before  # the index was dropped again, nothing else was touched
    assert_no_write(target.db, before, counters)
    assert not target.marker.exists()
    timing = {t.sql: t for t in report.timings}
    for text in texts[:8]:
        assert not timing[text].executed and "not sent to the server" in timing[text].note
        assert timing[text].before is None and timing[text].after is None
    for text in (texts[8], texts[10]):  # data-modifying WITH, FOR UPDATE: costs only
        assert not timing[text].executed and timing[text].before.time_ms is None
    # nextval() would write: the READ ONLY transaction refuses it at execution time.
    assert "read-only transaction" in timing[texts[11]].note
    assert timing[BENIGN].executed and timing[BENIGN].before.rows > 0
    assert_counters_see_writes(target.db, counters)


def _capture_file(path: Path, texts: list[str]) -> Path:
    lines = [
        {
            "kind": "header",
            "format": "idxadvisor-capture",
            "version": 1,
            "created": "2024-01-01T00:00:00+0000",
        },
        {
            "kind": "process",
            "process": "p1",
            "pid": 1,
            "ppid": 0,
            "cwd": "/",
            "program": "pytest",
            "python": "3",
        },
    ]
    lines += [
        {
            "kind": "statement",
            "process": "p1",
            "sql": text,
            "origin": {"path": "app/views.py", "line": i + 1, "function": "f"},
            "calls": 50,
            "total_ms": 900.0,
            "constants": {},
        }
        for i, text in enumerate(texts)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_cli_analyze_and_verify_never_run_smuggled_statements(
    target: Target, tmp_path: Path
) -> None:
    texts = hostile_texts(target)
    capture = _capture_file(tmp_path / "capture.jsonl", [*texts, BENIGN])
    sql_file = tmp_path / "workload.sql"
    sql_file.write_text(";\n".join([*texts, BENIGN]) + ";\n")
    before, counters = state(target.db), write_counters(target.db)
    url = target.db.url
    runs = [
        run_cli(
            "analyze",
            "--workload",
            str(capture),
            "--database-url",
            url,
            "--format",
            "json",
            cwd=tmp_path,
        ),
        run_cli("analyze", "--workload", str(sql_file), "--database-url", url, cwd=tmp_path),
        run_cli(
            "verify",
            "--workload",
            str(capture),
            "--database-url",
            url,
            "--allow-writes",
            "--runs",
            "1",
            cwd=tmp_path,
        ),
    ]
    assert_no_write(target.db, before, counters)
    assert not target.marker.exists()
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr and "psycopg" not in run.stderr
    # The chains are listed as skipped, each with why; nothing of them was sent.
    skipped = {s.get("sql"): s["reason"] for s in json.loads(runs[0].stdout)["skipped"]}
    for text in texts[:4]:
        # Skipped by the first stage that sees the chain (patterns, or the what-if guard).
        assert "statements in one text" in skipped[text]
    # No recommendation serves a chain (patterns skip it), so verify never measures one.
    assert "built and dropped again" in runs[2].stdout
    # nextval() is served and measured, and the READ ONLY transaction refuses to run it.
    assert "failed: cannot execute nextval() in a read-only transaction" in runs[2].stdout
    assert_counters_see_writes(target.db, counters)


# -- passwords ---------------------------------------------------------------------------------
SECRET = "Zq9s3cr3tXy7"


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://app:{SECRET}@127.0.0.1:1/shop",
        f"postgresql+psycopg://app:{SECRET}@127.0.0.1:1/shop",
        f"postgressql://app:{SECRET}@127.0.0.1:1/shop",
        f"postgresql:/app:{SECRET}@127.0.0.1:1/shop",
        f"postgresql://app:{SECRET}%zz@127.0.0.1:1/shop",
        f"postgresql://app:{SECRET}%0@127.0.0.1:1/shop",
        f"postgresql://app:{SECRET[:6]}@{SECRET[6:]}@127.0.0.1:1/shop",
        f"postgresql://app:{SECRET[:6]}/{SECRET[6:]}@127.0.0.1:1/shop",
        f"postgresql://app:{SECRET}@127.0.0.1:1/shop",
        f"postgresql://app:{SECRET}@127.0.0.1:notaport/shop",
        f"postgresql://app@127.0.0.1:1/shop?password={SECRET}&sslmode=bogus",
        f"postgresql://app@127.0.0.1:1/shop?password={SECRET[:6]}&{SECRET[6:]}",
        f"postgres://app:{SECRET}@127.0.0.1:1/shop?connect_timeout=x",
        f"host=127.0.0.1 port=1 user=app password={SECRET} dbname=shop",
        f"host=127.0.0.1 port=1 user=app password='{SECRET[:6]} {SECRET[6:]}' dbname=shop",
        f"host=127.0.0.1 port=1 password={SECRET[:6]}\\ {SECRET[6:]} junk",
        f"host=127.0.0.1 port=1 password='{SECRET} dbname=shop",
        f"host=127.0.0.1 port=1 password = {SECRET} sslmode=bogus",
    ],
)
def test_no_text_derived_from_a_url_shows_its_password(url: str, tmp_path: Path) -> None:
    pieces = (SECRET, SECRET[:6], SECRET[6:])
    texts = [redact(url), describe_target(url), url_problem(url) or ""]
    with pytest.raises(DatabaseError) as info:
        connect_readonly(url, connect_timeout_s=2)
    texts.append(str(info.value))
    with pytest.raises(DatabaseError) as info:
        verify(url, [], [])
    texts.append(str(info.value))
    for text in texts:
        assert not any(p in text for p in pieces), text
        assert "\n" not in text
    workload = tmp_path / "w.sql"
    workload.write_text("SELECT 1 FROM t WHERE a = 1;\n")
    run = run_cli("analyze", "--workload", str(workload), "--database-url", url, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert not any(p in output for p in pieces), output
    assert "Traceback" not in output
    assert run.stderr.strip().splitlines()[-1].startswith("idxadvisor: error: ")


def test_a_good_url_with_a_wrong_password_is_one_line_without_it(pg_server_url: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(pg_server_url)
    url = (
        f"postgresql://idxadv_nobody:{SECRET}@{p.get('host', '127.0.0.1')}:"
        f"{p.get('port', '5432')}/postgres"
    )
    with pytest.raises(DatabaseError) as info:
        connect_readonly(url)
    assert SECRET not in str(info.value) and "idxadv_nobody" in str(info.value)
