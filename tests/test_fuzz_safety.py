"""Random and adversarial statement texts through every stage that reads workload SQL: the
readers, the patterns stage, the statement guard and the live EXPLAIN path on a real database.

No exception may escape (bad input is a skipped item with its reason, or the project's own
one-line UsageError), and nothing may be written: checked from a second connection.
Deterministic (``derandomize=True``) and bounded to about a minute in total.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idxadvisor.errors import UsageError
from idxadvisor.live.connection import ReadOnlyDatabase, connect_readonly, send_one
from idxadvisor.live.whatif import PlanError, WhatIf
from idxadvisor.patterns.extractor import analyse
from idxadvisor.sources.capture.workload_file import read_workload_file
from idxadvisor.sources.sqlfile import read_sql_files
from idxadvisor.sql.statements import classify, explain_refusal, split_statements
from idxadvisor.workload import build_workload
from tests.helpers import TempDatabase, create_database, drop_database, require_hypopg
from tests.test_live_safety import TARGET_SETUP, assert_counters_see_writes, assert_no_write, state
from tests.test_live_safety import write_counters as counters_of

FRAGMENTS = [
    "SELECT",
    " id",
    " * ",
    " FROM t",
    " FROM t t1 JOIN t t2 ON t1.id = t2.a",
    " WHERE a = ",
    " AND ",
    " OR ",
    "note",
    " = ",
    "$1",
    "$2",
    "%s",
    "%%",
    "1",
    "'x'",
    " LIMIT 10",
    " ORDER BY a",
    ";",
    ";\n",
    "'",
    "''",
    "E'",
    "e'\\'",
    "\\",
    '"',
    '""',
    "$$",
    "$q$",
    "$Q$",
    "$1$",
    "--",
    "\n",
    "/*",
    "*/",
    "(",
    ")",
    ",",
    " ",
    "\u00a0",
    "COMMIT",
    "BEGIN READ WRITE",
    "ROLLBACK",
    " INSERT INTO t (a, note, created_at) VALUES (1, 'x', now())",
    " DELETE FROM t",
    " UPDATE t SET a = a + 1",
    " TRUNCATE t",
    " DROP TABLE t",
    " CREATE TABLE pwned (a int)",
    " DO $$BEGIN DELETE FROM t; END$$",
    " COPY t TO PROGRAM 'true'",
    " COPY t FROM STDIN",
    " SET transaction_read_only = off",
    " SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    " WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d",
    " FOR UPDATE",
    " INTO newt",
    " SELECT nextval('s')",
    " SELECT setval('s', 99)",
    " PREPARE p AS DELETE FROM t",
    " EXECUTE p",
    " CALL p()",
    " LOCK t",
    " VACUUM t",
    " -- idxadvisor: calls=3\n",
    " -- idxadvisor: calls=x\n",
    "\\timing\n",
    "U&'\\0041'",
    "B'1'",
    "X'ff'",
]
piece = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6))
statement_text = st.lists(piece, max_size=14).map("".join)
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@given(text=statement_text)
@FUZZ
def test_lexer_never_raises_and_splits_consistently(text: str) -> None:
    info = classify(text)
    parts = split_statements(text)
    if not info.problem:
        assert info.statements == len(parts)
        assert all(classify(p).statements == 1 for p in parts)


@given(text=statement_text)
@FUZZ
def test_readers_and_patterns_never_raise(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sql_file = Path(tmp) / "w.sql"
        sql_file.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            statements, skipped = read_sql_files([sql_file])
        except UsageError as exc:  # the project's one-line error for bad input
            assert "\n" not in str(exc)
            statements, skipped = (), ()
        capture = Path(tmp) / "w.jsonl"
        record = {
            "kind": "statement",
            "process": "p",
            "sql": text,
            "origin": {"path": "app/q.py", "line": 1, "function": "f"},
            "calls": 1,
            "total_ms": 1.0,
            "constants": {},
        }
        header = {
            "kind": "header",
            "format": "idxadvisor-capture",
            "version": 1,
            "created": "2024-01-01T00:00:00+0000",
        }
        capture.write_text(json.dumps(header) + "\n" + json.dumps(record) + "\n")
        captured, capture_skipped = read_workload_file(capture)
    workload = build_workload([*statements, *captured], [*skipped, *capture_skipped])
    patterns, unparsed = analyse(workload)
    assert all(s.reason for s in unparsed)  # nothing is skipped without its reason
    assert {p.query_id for p in patterns} <= {q.id for q in workload.queries}


@pytest.fixture(scope="module")
def fuzz_db(pg_server_url: str) -> Iterator[TempDatabase]:
    db = create_database(pg_server_url, prefix="idxadv_fuzz")
    try:
        with db.connect(autocommit=True) as conn:
            conn.execute(TARGET_SETUP)
            require_hypopg(conn)
        yield db
    finally:
        drop_database(pg_server_url, db.name)


@pytest.fixture(scope="module")
def fuzz_session(fuzz_db: TempDatabase) -> Iterator[ReadOnlyDatabase]:
    with connect_readonly(fuzz_db.url) as db:
        yield db


def test_guard_and_live_explain_never_raise_nor_write(
    fuzz_db: TempDatabase, fuzz_session: ReadOnlyDatabase
) -> None:
    before, counters = state(fuzz_db), counters_of(fuzz_db)
    whatif = WhatIf(fuzz_session)
    seen: list[str] = []

    @given(text=statement_text)
    @FUZZ
    def run(text: str) -> None:
        seen.append(text)
        try:
            whatif.cost(text)
        except PlanError as exc:
            assert str(exc) and "\n" not in str(exc)
        # Where the guard lets a text through, the server must see one statement too: the
        # lexer and PostgreSQL agree on where statements end.
        if explain_refusal(text) is None:
            with fuzz_session.transaction() as conn:
                try:
                    with conn.transaction():
                        send_one(conn, f"EXPLAIN {text}")
                except psycopg.Error as exc:
                    assert "multiple commands" not in str(exc), text

    run()
    assert len(seen) >= 200
    fuzz_session.close()  # the session's counters reach pg_stat_user_tables when it ends
    assert_no_write(fuzz_db, before, counters)
    assert_counters_see_writes(fuzz_db, counters)
