"""PostgreSQL 18's B-tree skip scan, on real servers: 18 serves ``b`` alone from ``(a, b)`` when
``a`` has few distinct values; 15 does not, and gets its index proposed."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.conftest import TempDatabase
from tests.helpers import run_cli

SETUP = """
CREATE TABLE event (id bigserial PRIMARY KEY, kind varchar(8) NOT NULL,
                    at timestamptz NOT NULL, payload int NOT NULL);
INSERT INTO event (kind, at, payload)
SELECT (ARRAY['a', 'b', 'c'])[1 + g % 3], now() - g * interval '1 minute', g
FROM generate_series(1, 60000) g;
CREATE INDEX event_kind_at ON event (kind, at);
ANALYZE event;
"""
WORKLOAD = "SELECT id, payload FROM event WHERE at >= $1 AND at < $2;\n"


def _advise(db: TempDatabase, tmp_path: Path) -> dict:
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(SETUP)
    (tmp_path / "w.sql").write_text(WORKLOAD)
    run = run_cli(
        "analyze",
        "--workload",
        str(tmp_path / "w.sql"),
        "--database-url",
        db.url,
        "--format",
        "json",
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_on_postgresql_18_a_skip_scan_serves_the_second_column(pg18_database, tmp_path):
    report = _advise(pg18_database, tmp_path)
    [query] = report["queries"]
    assert query["served_by"] == "event_kind_at"
    assert "skip scan" in query["served_reason"] and "3 distinct values" in query["served_reason"]
    assert report["recommendations"] == []


def test_on_postgresql_15_the_old_rule_holds(temp_database, tmp_path):
    report = _advise(temp_database, tmp_path)
    [query] = report["queries"]
    assert query["served_by"] is None
    assert [r["table"] for r in report["recommendations"]] == ["event"]
