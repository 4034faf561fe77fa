"""The workload from pg_stat_statements: read back, filtered, and driving a recommendation."""

from __future__ import annotations

import psycopg
import pytest

from idxadvisor.errors import DatabaseError
from idxadvisor.live.connection import connect_readonly
from idxadvisor.live.selection import select
from idxadvisor.live.whatif import WhatIf
from idxadvisor.schema.catalog import read_schema
from idxadvisor.sources.pg_stat_statements import read_pg_stat_statements
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement
from idxadvisor.workload import build_workload
from tests.helpers import TempDatabase, require_hypopg, url_for_database

EMAIL_QUERY = "SELECT id, status FROM hook WHERE email = $1"
ORG_QUERY = "SELECT count(*) FROM hook WHERE org_id = $1"


def test_pg_stat_statements_workload_drives_a_recommendation(
    temp_database: TempDatabase, pg_server_url: str
) -> None:
    with temp_database.connect(autocommit=True) as conn:
        require_hypopg(conn)
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("""
            CREATE TABLE hook (id bigserial PRIMARY KEY, org_id int NOT NULL,
                               status varchar(20) NOT NULL, email varchar(200) NOT NULL);
            INSERT INTO hook (org_id, status, email)
            SELECT g % 50, 'done', 'user' || g || '@example.com'
            FROM generate_series(1, 50000) g;
            ANALYZE hook;
        """)
        # The application's traffic: psycopg sends server-side $1 parameters.
        for i in range(30):
            conn.execute("SELECT id, status FROM hook WHERE email = %s", [f"user{i}@example.com"])
        for i in range(3):
            conn.execute("SELECT count(*) FROM hook WHERE org_id = %s", [i])
        conn.execute("SET work_mem = '8MB'")
        conn.execute("SELECT count(*) FROM pg_class").fetchall()
    with psycopg.connect(url_for_database(pg_server_url, "postgres"), autocommit=True) as other:
        # (A temporary table gives a statement pg_stat_statements has not seen before.)
        other.execute("CREATE TEMP TABLE idxadv_marker_other_database (a int)")
        other.execute("SELECT a FROM idxadv_marker_other_database").fetchall()

    with connect_readonly(temp_database.url) as db:
        # The tool's own catalog, HypoPG and EXPLAIN statements must not come back as workload.
        read_schema(db)
        WhatIf(db).cost(EMAIL_QUERY, [IndexCandidate("hook", (IndexElement(column="org_id"),))])
        statements, skipped = read_pg_stat_statements(db)
        everywhere, _ = read_pg_stat_statements(db, database_only=False)
        frequent, _ = read_pg_stat_statements(db, min_calls=10)

        by_sql = {s.sql: s for s in statements}
        assert by_sql[EMAIL_QUERY].calls == 30
        assert by_sql[ORG_QUERY].calls == 3
        assert by_sql[EMAIL_QUERY].total_time_ms > 0
        assert all(s.source == "pg_stat_statements" for s in statements)
        assert not any(
            "idxadvisor" in s.sql or "hypopg" in s.sql or "EXPLAIN" in s.sql for s in statements
        )
        assert not any("pg_class" in s.sql or s.sql.upper().startswith("SET") for s in statements)
        assert not any("idxadv_marker_other_database" in s.sql for s in statements)
        assert any("idxadv_marker_other_database" in s.sql for s in everywhere)
        assert [s.sql for s in frequent if "hook" in s.sql] == [EMAIL_QUERY]
        reasons = " | ".join(s.reason for s in skipped)
        assert "utility statement(s)" in reasons and "system catalogs" in reasons

        workload = build_workload([s for s in statements if "FROM hook" in s.sql])
        email_query = next(q for q in workload.queries if q.sql == EMAIL_QUERY)
        assert email_query.weight == pytest.approx(by_sql[EMAIL_QUERY].total_time_ms)

        email_idx = IndexCandidate("hook", (IndexElement(column="email"),))
        status_idx = IndexCandidate("hook", (IndexElement(column="status"),))
        sel = select([email_idx, status_idx], workload.queries, WhatIf(db))
        assert [c.candidate for c in sel.chosen] == [email_idx]
        cost = sel.costs[email_query.id]
        assert cost.cost_after < cost.cost_before / 100
        assert cost.index_used == "hook(email)"
        assert [r.candidate for r in sel.rejected] == [status_idx]


def test_missing_pg_stat_statements_is_one_line_with_the_fix(temp_database: TempDatabase) -> None:
    with connect_readonly(temp_database.url) as db, pytest.raises(DatabaseError) as info:
        read_pg_stat_statements(db)
    message = str(info.value)
    assert "\n" not in message
    assert "pg_stat_statements is not installed" in message
    assert "CREATE EXTENSION pg_stat_statements" in message
