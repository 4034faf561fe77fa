"""covering: INCLUDE for index-only scans (mirrors ``idxadvisor.advisor.rules.covering``)."""

from __future__ import annotations

from tests.advisor.hook import _advise, _advise_many, _schema


def test_covering_include_for_a_narrow_select():
    advice = _advise("SELECT hook.status FROM hook WHERE hook.org = $1", _schema())
    [rec] = advice.recommendations
    assert rec.candidate.include == ("status",)
    assert 'INCLUDE ("status")' in rec.sql


def _include_claims(rec) -> list[str]:
    return [r for r in rec.candidate.reasons if r.startswith("INCLUDE (")]


def test_folded_include_is_stated_once_for_the_final_index():
    # Two narrow reads of one key fold into one index carrying both queries' INCLUDE columns:
    # one sentence names the final list and every query it answers, none a partial list.
    advice = _advise_many(
        "SELECT hook.org, hook.status FROM hook WHERE hook.org = $1",
        "SELECT hook.org, hook.status, hook.channel_id FROM hook WHERE hook.org = $1",
    )
    [rec] = advice.recommendations
    assert set(rec.candidate.include) == {"status", "channel_id"}
    [claim] = _include_claims(rec)
    head, rest = claim.split(": ", 1)
    assert head == f"INCLUDE ({', '.join(rec.candidate.include)})"
    assert set(rest.split(" read ")[0].split(", ")) == {"q1", "q2"}


def test_an_include_column_left_out_takes_the_ones_only_it_made_useful():
    # q2 needs status and channel_id; status is hot-updated and left out, so channel_id no
    # longer lets any query be answered from the index alone: it goes too, and no sentence
    # claims an INCLUDE the index does not have.
    advice = _advise_many(
        "SELECT hook.org, hook.status, hook.channel_id FROM hook WHERE hook.org = $1",
        "UPDATE hook SET status = $1 WHERE hook.id = $2",
    )
    [rec] = advice.recommendations
    assert rec.candidate.include == ()
    assert "INCLUDE" not in rec.sql
    assert _include_claims(rec) == []
    [why] = [r for r in rec.candidate.reasons if r.startswith("Not INCLUDE (status)")]
    assert "channel_id no longer completes any query's reads" in why


def test_an_include_column_another_query_still_needs_is_kept():
    advice = _advise_many(
        "SELECT hook.org, hook.status, hook.channel_id FROM hook WHERE hook.org = $1",
        "SELECT hook.org, hook.channel_id FROM hook WHERE hook.org = $1",
        "UPDATE hook SET status = $1 WHERE hook.id = $2",
    )
    [rec] = advice.recommendations
    assert rec.candidate.include == ("channel_id",)
    [claim] = _include_claims(rec)
    assert claim.startswith("INCLUDE (channel_id): q2 reads nothing else")
