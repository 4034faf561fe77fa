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


def test_a_partial_read_without_a_seek_keeps_its_where_beside_a_full_index():
    # q3 walks the active rows in (org, created_at) order with no seek: in the full index it
    # would read past every inactive row (issue 11, defect 5). It shares a candidate with q2,
    # which seeks on org: that candidate may not fold into q1's full index and lose q3's WHERE.
    recs = _advise_many(
        "SELECT * FROM hook WHERE org = $1 ORDER BY created_at DESC LIMIT 20",
        "SELECT * FROM hook WHERE org = $1 AND is_active ORDER BY created_at DESC LIMIT 20",
        "SELECT * FROM hook WHERE is_active ORDER BY org, created_at DESC LIMIT 20",
    ).recommendations
    by_where = {r.candidate.condition_sql: r for r in recs}
    assert set(by_where) == {None, "is_active"}
    assert "q3" in by_where["is_active"].serves
    assert "q3" not in by_where[None].serves
    assert "q1" in by_where[None].serves


def test_a_negation_beside_a_range_keeps_its_partial_index_next_to_a_full_one():
    # django-q2's scheduler: NOT (repeats = 0) AND next_run < now ORDER BY next_run. The rows the
    # negation drops (finished schedules, like healthchecks' checks that are down) keep a
    # next_run in the past for ever: a full (next_run) index reads them all on every poll, so
    # the partial one stays beside the admin's full one, however few rows it may drop.
    recs = _advise_many(
        "SELECT * FROM hook ORDER BY created_at LIMIT 100",
        "SELECT * FROM hook WHERE NOT (status = 'done') AND created_at < $1 ORDER BY created_at",
    ).recommendations
    assert {r.candidate.condition_sql for r in recs} == {None, "status <> 'done'"}


def test_an_equality_lookup_folds_into_a_listing_on_the_same_columns_in_another_order():
    # django-celery-beat's IntervalSchedule: get(every=…, period=…) and its Meta.ordering
    # listing (period, every). A seek on both equalities finds the same rows in (period,
    # every): one index, in the order the listing needs.
    recs = _advise_many(
        "SELECT * FROM hook WHERE org = $1 AND email = $2 LIMIT 21",
        "SELECT * FROM hook ORDER BY email, org LIMIT 100",
    ).recommendations
    [rec] = recs
    assert [k for k, _ in _keys(rec)] == ["email", "org"]
    assert set(rec.serves) == {"q1", "q2"}
