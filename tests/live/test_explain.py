"""live/explain.py: the one way a workload statement is EXPLAINed — the guard first, the
generic plan for $n parameters on PostgreSQL 15 (PREPARE) and 16+ (GENERIC_PLAN), nothing
left behind in the session, and a missing write privilege explained."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from idxadvisor.live.connection import connect_readonly, send_unbound
from idxadvisor.live.explain import explain
from idxadvisor.live.whatif import PlanError, WhatIf
from idxadvisor.sql.statements import RefusedStatement
from tests.helpers import TempDatabase

SETUP = """
CREATE TABLE item (id bigserial PRIMARY KEY, code int NOT NULL, label text NOT NULL);
INSERT INTO item (code, label) SELECT g % 5000, 'label ' || g FROM generate_series(1, 20000) g;
CREATE INDEX item_code_idx ON item (code);
ANALYZE item;
"""

PARAMETERISED = [
    "SELECT id FROM item WHERE code = $1",
    "SELECT id FROM item WHERE code = $1 AND label = $2",
    "SELECT id FROM item WHERE code IN ($1, $2) ORDER BY id LIMIT $3",
    "UPDATE item SET label = $2 WHERE code = $1",
]


@pytest.fixture
def item_db(temp_database: TempDatabase) -> TempDatabase:
    with temp_database.connect(autocommit=True) as conn:
        conn.execute(SETUP)
    return temp_database


def _prepared(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]


def _explain_all(url: str, texts: list[str]) -> list:
    with connect_readonly(url) as db, db.transaction() as conn:
        results = [explain(conn, t, server_version=db.server_version) for t in texts]
        assert _prepared(conn) == 0  # deallocated at once, even inside the transaction
        return results


@pytest.mark.parametrize("text", PARAMETERISED)
def test_generic_plan_on_15_uses_the_index_and_leaves_nothing(
    item_db: TempDatabase, text: str
) -> None:
    (found,) = _explain_all(item_db.url, [text])
    assert found.generic
    assert "item_code_idx" in found.index_names, found.plan
    assert found.total_cost > 0


def test_generic_plan_on_16_and_later(pg18_database: TempDatabase) -> None:
    """The 16+ path (EXPLAIN (GENERIC_PLAN)) on a real PostgreSQL 18."""
    with pg18_database.connect(autocommit=True) as conn:
        conn.execute(SETUP)
    with connect_readonly(pg18_database.url) as db:
        assert db.server_version >= 180000
    for found in _explain_all(pg18_database.url, PARAMETERISED):
        assert found.generic and "item_code_idx" in found.index_names
    # GENERIC_PLAN goes with the simple protocol (the extended one would bind $n as NULLs):
    # the server still parses the text first and refuses a second statement.
    with (
        connect_readonly(pg18_database.url) as db,
        db.transaction() as conn,
        pytest.raises(psycopg.Error, match="multiple commands"),
    ):
        send_unbound(conn, "EXPLAIN (GENERIC_PLAN) SELECT 1 FROM item WHERE code = $1; SELECT 2")


def test_a_refused_server_side_statement_leaves_no_prepared_statement(
    item_db: TempDatabase,
) -> None:
    with connect_readonly(item_db.url) as db, db.transaction() as conn:
        with pytest.raises(psycopg.Error):
            explain(conn, "SELECT id FROM item WHERE nosuch = $1", server_version=db.server_version)
        # The caller's transaction is still usable: the failure stayed in a savepoint.
        assert _prepared(conn) == 0
        assert explain(
            conn, "SELECT 1 FROM item WHERE code = 3", server_version=db.server_version
        ).index_names == ("item_code_idx",)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1; DROP TABLE item",
        "DROP TABLE item",
        "COPY item TO STDOUT",
        "SET work_mem = '1GB'",
    ],
)
def test_the_guard_refuses_before_anything_is_sent(item_db: TempDatabase, text: str) -> None:
    with (
        connect_readonly(item_db.url) as db,
        db.transaction() as conn,
        pytest.raises(RefusedStatement),
    ):
        explain(conn, text, server_version=db.server_version)
    with item_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM item").fetchone()[0] == 20000


def test_analyze_runs_only_a_plain_select(item_db: TempDatabase) -> None:
    with connect_readonly(item_db.url) as db, db.transaction() as conn:
        with pytest.raises(RefusedStatement, match="never executed"):
            explain(
                conn,
                "DELETE FROM item WHERE code = 1",
                server_version=db.server_version,
                analyze=True,
            )
        found = explain(
            conn,
            "SELECT id FROM item WHERE code = $1",
            server_version=db.server_version,
            analyze=True,
            values=["7"],
        )
        assert found.root["Actual Rows"] == 4 and not found.generic


@pytest.fixture
def select_only_url(item_db: TempDatabase, pg_server_url: str) -> Iterator[str]:
    """A login role that may only SELECT from item (roles are cluster-wide: dropped after)."""
    name = f"idxadv_ro_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier(name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    try:
        with item_db.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT SELECT ON item TO {}").format(ident))
        yield f"postgresql://{name}@127.0.0.1:5432/{item_db.name}"
    finally:
        with item_db.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


@pytest.mark.parametrize(
    ("text", "verb"),
    [
        ("UPDATE item SET label = 'x' WHERE code = 3", "UPDATE"),
        ("DELETE FROM item WHERE code = $1", "DELETE"),
        ("INSERT INTO item (code, label) VALUES (1, 'a')", "INSERT"),
    ],
)
def test_a_missing_write_privilege_says_which_grant(
    select_only_url: str, text: str, verb: str
) -> None:
    with connect_readonly(select_only_url) as db:
        whatif = WhatIf(db)
        with pytest.raises(PlanError) as info:
            whatif.cost(text)
        assert whatif.cost("SELECT id FROM item WHERE code = 3").total_cost > 0
    reason = str(info.value)
    assert "permission denied" in reason
    assert (
        f"EXPLAIN of an {verb} on item needs the {verb} privilege, though nothing is "
        f"executed (GRANT {verb} ON item TO role)"
    ) in reason
