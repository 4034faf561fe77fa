"""covering: INCLUDE for index-only scans (mirrors ``idxadvisor.advisor.rules.covering``)."""

from __future__ import annotations

from tests.advisor.hook import _advise, _schema


def test_covering_include_for_a_narrow_select():
    advice = _advise("SELECT hook.status FROM hook WHERE hook.org = $1", _schema())
    [rec] = advice.recommendations
    assert rec.candidate.include == ("status",)
    assert 'INCLUDE ("status")' in rec.sql
