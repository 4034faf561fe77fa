"""brin: BRIN for append-only ranges (mirrors ``idxadvisor.advisor.rules.brin``)."""

from __future__ import annotations

from idxadvisor.types.schema import ColumnStats
from tests.advisor.hook import _advise, _schema


def test_append_only_timestamp_range_gets_brin():
    advice = _advise("DELETE FROM hook WHERE created_at < $1", _schema())
    [rec] = advice.recommendations
    assert rec.candidate.method == "brin"
    assert "USING brin" in rec.sql
    assert rec.django.startswith("BrinIndex(")


def test_uncorrelated_timestamp_keeps_a_btree():
    stats = {"created_at": ColumnStats(n_distinct=-1, correlation=0.1)}
    advice = _advise("DELETE FROM hook WHERE created_at < $1", _schema(stats=stats, rows=10**6))
    [rec] = advice.recommendations
    assert rec.candidate.method == "btree"


def test_a_range_read_index_only_keeps_its_btree_and_include():
    # covering runs first: a range that reads one small other column gets INCLUDE for an
    # index-only scan. BRIN has no INCLUDE (PostgreSQL rejects it), so it stays a B-tree.
    advice = _advise("SELECT org FROM hook WHERE created_at >= $1", _schema())
    [rec] = advice.recommendations
    assert rec.candidate.include == ("org",)
    assert rec.candidate.method == "btree" and "USING brin" not in rec.sql


def test_no_proposal_carries_include_on_a_method_without_it():
    from idxadvisor.advisor.methods import method

    sqls = [
        "SELECT org FROM hook WHERE created_at >= $1",
        "SELECT org, status FROM hook WHERE created_at < $1 AND created_at > $2",
        "DELETE FROM hook WHERE created_at < $1",
        "SELECT id FROM hook WHERE UPPER(email::text) LIKE UPPER('%x%')",
    ]
    for sql in sqls:
        for rec in _advise(sql, _schema()).recommendations:
            assert not rec.candidate.include or method(rec.candidate.method).supports_include
