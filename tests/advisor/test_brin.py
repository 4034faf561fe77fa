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
