"""merge: one index for several queries (mirrors ``idxadvisor.advisor.merge``)."""

from __future__ import annotations

from idxadvisor.advisor import advise
from idxadvisor.patterns.extractor import extract
from idxadvisor.types.workload import Query
from tests.advisor.hook import _keys, _schema


def test_candidates_merge_when_one_is_a_prefix_of_another():
    queries = [
        Query("q1", "SELECT * FROM hook WHERE org = $1", "a", "sql"),
        Query(
            "q2", "SELECT * FROM hook WHERE org = $1 ORDER BY created_at DESC LIMIT 5", "b", "sql"
        ),
    ]
    patterns = tuple(p for q in queries for p in extract(q))
    [rec] = advise(patterns, _schema()).recommendations
    assert set(rec.serves) == {"q1", "q2"}
    assert _keys(rec) == [("org", False), ("created_at", True)]


def test_equality_keys_reorder_so_one_index_serves_both_lookups():
    queries = [
        Query("q1", "SELECT * FROM hook WHERE email = $1 AND org = $2 LIMIT 21", "a", "sql"),
        Query("q2", "SELECT hook.id FROM hook WHERE hook.org = $1", "b", "sql"),
    ]
    patterns = tuple(p for q in queries for p in extract(q))
    [rec] = advise(patterns, _schema()).recommendations
    assert [k for k, _ in _keys(rec)] == ["org", "email"]
    assert set(rec.serves) == {"q1", "q2"}


def test_a_partial_candidate_folds_into_a_full_one_on_the_same_keys():
    queries = [
        Query(
            "q1",
            "SELECT * FROM hook WHERE org = $1 AND next_retry_at IS NULL ORDER BY email LIMIT 5",
            "a",
            "sql",
        ),
        Query("q2", "SELECT * FROM hook WHERE org = $1 AND email = $2 LIMIT 21", "b", "sql"),
    ]
    patterns = tuple(p for q in queries for p in extract(q))
    [rec] = advise(patterns, _schema()).recommendations
    assert rec.candidate.condition == ()
    assert set(rec.serves) == {"q1", "q2"}
    assert "checked on the rows the seek finds" in rec.reason
