"""partial: constant filters into the index WHERE or the key.

Mirrors ``idxadvisor.advisor.rules.partial``.
"""

from __future__ import annotations

import pytest

from idxadvisor.types.schema import ColumnStats
from tests.advisor.hook import _advise, _advise_many, _keys, _schema


def test_constant_in_list_goes_into_the_partial_predicate_not_the_key():
    # (next_retry_at) WHERE status IN (...) returns rows in order and stops at the LIMIT;
    # (status, next_retry_at) would need two ranges merged and sorted.
    advice = _advise(
        "SELECT * FROM hook WHERE status IN ('pending', 'failed') AND next_retry_at <= $1 "
        "ORDER BY next_retry_at LIMIT 100",
        _schema(),
    )
    [rec] = advice.recommendations
    assert _keys(rec) == [("next_retry_at", False)]
    assert rec.candidate.condition_sql == "status IN ('pending', 'failed')"
    assert "partial index" in rec.reason
    assert rec.sql.startswith('CREATE INDEX CONCURRENTLY "hook_next_re_')
    assert rec.sql.endswith(""" ("next_retry_at") WHERE "status" IN ('pending', 'failed');""")


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [(0.02, "condition"), (0.35, "key"), (0.95, "neither")],
)
def test_statistics_decide_partial_predicate_or_key(frequency, expected):
    stats = {
        "status": ColumnStats(
            n_distinct=4,
            most_common_vals=("failed", "other"),
            most_common_freqs=(frequency, 1 - frequency),
        )
    }
    advice = _advise(
        "SELECT * FROM hook WHERE status = 'failed' AND org = $1", _schema(stats=stats, rows=10**6)
    )
    [rec] = advice.recommendations
    keys = [k for k, _ in _keys(rec)]
    if expected == "condition":
        assert rec.candidate.condition_sql == "status = 'failed'" and keys == ["org"]
        assert "2.0% of rows" in rec.reason
    elif expected == "key":
        assert rec.candidate.condition == () and set(keys) == {"org", "status"}
    else:
        assert rec.candidate.condition == () and keys == ["org"]
        assert "too common" in rec.reason


def _says_partial(rec) -> bool:
    return any("index WHERE" in r for r in rec.candidate.reasons)


def test_a_where_term_merging_drops_is_not_explained_as_kept():
    # WHERE is_active and WHERE NOT is_active on the same keys become one full index: no
    # sentence may still say that a term "goes in the index WHERE".
    advice = _advise_many(
        "SELECT * FROM hook WHERE hook.is_active ORDER BY hook.created_at DESC LIMIT 10",
        "SELECT * FROM hook WHERE NOT hook.is_active ORDER BY hook.created_at DESC LIMIT 10",
    )
    [rec] = advice.recommendations
    assert rec.candidate.condition == ()
    assert "WHERE" not in rec.sql
    assert not _says_partial(rec)
    assert "together cover every row" in rec.reason


def test_a_where_term_sought_on_as_a_key_is_not_explained_as_kept():
    # (created_at) WHERE status = 'failed' folds into (status, created_at): status is a key.
    advice = _advise_many(
        "SELECT * FROM hook WHERE hook.status = 'failed' ORDER BY hook.created_at LIMIT 10",
        "SELECT * FROM hook WHERE hook.status = $1 ORDER BY hook.created_at LIMIT 10",
    )
    [rec] = advice.recommendations
    assert _keys(rec)[0] == ("status", False)
    assert rec.candidate.condition == ()
    assert not _says_partial(rec)


def test_a_where_term_the_index_keeps_is_explained_first():
    [rec] = _advise_many(
        "SELECT * FROM hook WHERE hook.is_active ORDER BY hook.created_at DESC LIMIT 10",
    ).recommendations
    assert rec.candidate.condition_sql == "is_active"
    assert rec.candidate.reasons[0].startswith("is_active is a constant filter")


@pytest.mark.parametrize(
    ("where", "few"),
    [
        ("status = 'failed'", True),
        ("status IN ('failed', 'pending')", True),
        ("next_retry_at IS NULL", True),
        ("status <> 'done'", False),
        ("next_retry_at IS NOT NULL", False),
    ],
)
def test_a_partial_where_claims_few_rows_only_for_what_picks_rows(where, few):
    # All but one status, or every row with a value, is usually most of the table (found on
    # django-silk: time_taken IS NOT NULL held 100% of rows, said to be "a small share").
    [rec] = _advise(f"SELECT * FROM hook WHERE org = $1 AND {where}", _schema()).recommendations
    assert rec.candidate.condition, rec.sql
    assert ("assumed to match a small share of rows" in rec.reason) == few, rec.reason
    assert ("unknown without statistics" in rec.reason) == (not few), rec.reason
