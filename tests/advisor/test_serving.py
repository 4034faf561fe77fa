"""serving: an existing index that serves a pattern as well: nothing proposed.

Mirrors ``idxadvisor.advisor.serving``.
"""

from __future__ import annotations

from idxadvisor.types.schema import ExistingIndex, IndexElement
from tests.advisor.hook import HOOK, _advise, _keys, _schema


def test_lookup_served_by_the_primary_key_proposes_nothing():
    advice = _advise("SELECT * FROM hook WHERE id = $1 LIMIT 21", _schema())
    assert advice.recommendations == ()
    assert [(s.query_id, s.index) for s in advice.served] == [("q1", "hook_pkey")]


def test_an_existing_composite_serves_a_query_on_its_leading_column():
    existing = ExistingIndex(
        HOOK,
        "hook_org_created",
        (IndexElement("org"), IndexElement("created_at", descending=True)),
        "Meta.indexes",
    )
    advice = _advise("SELECT * FROM hook WHERE org = $1", _schema(existing))
    assert advice.recommendations == ()
    assert advice.served[0].index == "hook_org_created"


def test_an_index_that_cannot_deliver_the_order_does_not_count_as_serving():
    existing = ExistingIndex(HOOK, "hook_org", (IndexElement("org"),), "db_index")
    advice = _advise(
        "SELECT * FROM hook WHERE org = $1 ORDER BY created_at DESC LIMIT 20", _schema(existing)
    )
    [rec] = advice.recommendations
    assert _keys(rec) == [("org", False), ("created_at", True)]
    # ... and the single-column index it leads becomes redundant.
    assert [r.index.name for r in advice.redundant] == ["hook_org"]
    assert rec.redundant == ("hook_org",)


def test_partial_index_is_not_used_when_the_query_does_not_imply_its_predicate():
    existing = ExistingIndex(
        HOOK,
        "hook_pending",
        (IndexElement("next_retry_at"),),
        "Meta.indexes",
        condition="status = 'pending'",
    )
    advice = _advise(
        "SELECT * FROM hook WHERE status = 'failed' AND next_retry_at <= $1 "
        "ORDER BY next_retry_at LIMIT 10",
        _schema(existing),
    )
    assert len(advice.recommendations) == 1
    assert advice.served == ()


def test_partial_index_serves_a_narrower_constant():
    existing = ExistingIndex(
        HOOK,
        "hook_due",
        (IndexElement("next_retry_at"),),
        "Meta.indexes",
        condition="status IN ('pending', 'failed')",
    )
    advice = _advise(
        "SELECT * FROM hook WHERE status = 'pending' AND next_retry_at <= $1 "
        "ORDER BY next_retry_at LIMIT 10",
        _schema(existing),
    )
    assert advice.recommendations == ()
    assert advice.served[0].index == "hook_due"


def test_a_full_index_on_the_same_keys_serves_a_query_with_an_extra_constant_filter():
    # What merge() folds, serving must accept: otherwise a second run proposes it again.
    existing = ExistingIndex(
        HOOK, "hook_org_email", (IndexElement("org"), IndexElement("email")), "Meta.indexes"
    )
    advice = _advise(
        "SELECT * FROM hook WHERE org = $1 AND next_retry_at IS NULL ORDER BY email LIMIT 5",
        _schema(existing),
    )
    assert advice.recommendations == ()
    assert advice.served[0].index == "hook_org_email"
