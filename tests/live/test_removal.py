"""Redundant indexes proposed for removal only where live statistics allow it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idxadvisor.live.connection import connect_readonly
from idxadvisor.live.housekeeping import StatsAge
from idxadvisor.live.removal import _decide, mark_removable
from idxadvisor.live.whatif import WhatIf
from idxadvisor.types.advice import IndexCandidate, Recommendation, Redundancy
from idxadvisor.types.schema import ExistingIndex, IndexElement
from idxadvisor.types.workload import Query
from tests.helpers import TempDatabase, require_hypopg

SETUP = """
CREATE TABLE channel (id bigserial PRIMARY KEY);
INSERT INTO channel SELECT FROM generate_series(1, 200);
CREATE TABLE delivery (id bigserial PRIMARY KEY,
                       channel_id bigint NOT NULL REFERENCES channel (id) ON DELETE CASCADE,
                       created_at timestamptz NOT NULL);
INSERT INTO delivery (channel_id, created_at)
SELECT g % 200 + 1, timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 40000) g;
CREATE INDEX delivery_channel_id_idx ON delivery (channel_id);
ANALYZE channel; ANALYZE delivery;
"""

NOW = datetime(2025, 1, 31, tzinfo=UTC)
OLD = StatsAge(NOW - timedelta(days=30), "the statistics reset", NOW)
YOUNG = StatsAge(NOW - timedelta(hours=2), "the statistics reset", NOW)
FK_INDEX = ExistingIndex(
    "delivery", "delivery_channel_id_idx", (IndexElement("channel_id"),), "foreign key"
)
REC = Recommendation(
    IndexCandidate(
        "delivery",
        (IndexElement("channel_id"), IndexElement("created_at", descending=True)),
        serves=("q_recent",),
    ),
    "delivery_chan_crea_1a2b3c_idx",
    "",
    "",
)
REDUNDANT = Redundancy(FK_INDEX, REC.name, "its keys (channel_id) lead the new one.")
BY_CHANNEL = "SELECT id FROM delivery WHERE channel_id = 7"


def query(qid: str, sql: str, source: str) -> Query:
    return Query(qid, sql, sql, source, calls=100)  # type: ignore[arg-type]


@pytest.fixture
def fk_db(temp_database: TempDatabase) -> TempDatabase:
    with temp_database.connect(autocommit=True) as conn:
        require_hypopg(conn)
        conn.execute(SETUP)
    return temp_database


def test_young_statistics_keep_it_with_the_reason(fk_db: TempDatabase) -> None:
    with connect_readonly(fk_db.url) as db:
        (found,) = mark_removable([REDUNDANT], [REC], [], db, WhatIf(db))
    assert not found.removable
    assert found.reason.startswith(REDUNDANT.reason) and "Kept: its scan counts cover" in (
        found.reason
    )


def test_never_scanned_over_old_statistics_is_removable_and_says_fk_is_served() -> None:
    removable, why = _decide(REDUNDANT, REC, 0, OLD, [], None)
    assert removable and "no scans in" in why
    assert "FK check, cascades and joins are still served" in why and REC.name in why
    assert _decide(REDUNDANT, REC, 0, YOUNG, [], None)[0] is False


@pytest.mark.parametrize(
    ("source", "queries", "removable", "says"),
    [
        # Scans a workload query explains, and the workload is the database's own: removable.
        ("pg_stat_statements", [("q_chan", BY_CHANNEL)], True, "q_chan of the database's own"),
        # Same, but the workload is a file: other statements may scan it.
        ("sql", [("q_chan", BY_CHANNEL)], False, "not the database's own"),
        # Scans no workload query explains: something else uses it.
        (
            "pg_stat_statements",
            [("q_other", "SELECT id FROM delivery WHERE id = 5")],
            False,
            "outside the workload",
        ),
    ],
)
def test_scanned_index_is_removable_only_when_the_workload_explains_its_scans(
    fk_db: TempDatabase, source: str, queries: list[tuple[str, str]], removable: bool, says: str
) -> None:
    workload = [query(qid, sql, source) for qid, sql in queries]
    with connect_readonly(fk_db.url) as db:
        decided, why = _decide(REDUNDANT, REC, 1234, OLD, workload, WhatIf(db))
    assert decided is removable, why
    assert says in why and "1,234 scans" in why
