"""merge: one index for several queries (mirrors ``idxadvisor.advisor.merge``)."""

from __future__ import annotations

from idxadvisor.advisor import advise
from idxadvisor.patterns.extractor import extract
from idxadvisor.types.workload import Query
from tests.advisor.hook import _advise_many, _keys, _schema


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


def test_a_full_lookup_and_a_partial_on_longer_keys_become_one_full_index():
    # q1 seeks on org alone, q2 seeks on org within the active rows and sorts: one full
    # (org, created_at DESC) serves both (q2's WHERE checked on the rows its seek finds),
    # rather than (org) beside (org, created_at DESC) WHERE is_active. Either order in.
    lookup = "SELECT hook.id FROM hook WHERE hook.org = $1"
    listing = "SELECT * FROM hook WHERE org = $1 AND is_active ORDER BY created_at DESC LIMIT 20"
    for sqls in ((lookup, listing), (listing, lookup)):
        [rec] = _advise_many(*sqls).recommendations
        assert rec.candidate.condition == ()
        assert _keys(rec) == [("org", False), ("created_at", True)]
        assert set(rec.serves) == {"q1", "q2"}
        assert "is_active" in rec.reason and "partial index" in rec.reason


def test_a_partial_read_without_a_seek_keeps_its_where_beside_a_full_index():
    # q3 walks the active rows in org order with no seek: in a full (org, …) index it would
    # read past every inactive row, so the partial one stays (issue 11, defect 5).
    recs = _advise_many(
        "SELECT hook.id FROM hook WHERE hook.org = $1",
        "SELECT * FROM hook WHERE org = $1 AND is_active ORDER BY created_at DESC LIMIT 20",
        "SELECT * FROM hook WHERE is_active ORDER BY org, created_at DESC LIMIT 20",
    ).recommendations
    partial = [r for r in recs if r.candidate.condition]
    assert partial and all("q3" in r.serves for r in partial)
    for rec in recs:
        if not rec.candidate.condition:
            assert "q3" not in rec.serves
