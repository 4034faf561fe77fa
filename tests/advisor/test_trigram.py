"""trigram: trigram GIN for a leading wildcard (mirrors ``idxadvisor.advisor.rules.trigram``)."""

from __future__ import annotations

from idxadvisor.types.schema import ExistingIndex, IndexElement
from tests.advisor.hook import HOOK, _advise, _schema


def test_leading_wildcard_like_gets_a_trigram_gin_index_beside_the_btree():
    advice = _advise(
        "SELECT * FROM hook WHERE org = $1 AND UPPER(hook.email::text) LIKE UPPER('%acme%') "
        "ORDER BY created_at DESC LIMIT 50",
        _schema(),
    )
    by_method = {r.candidate.method: r for r in advice.recommendations}
    assert set(by_method) == {"btree", "gin"}
    gin = by_method["gin"]
    assert [(e.expression, e.opclass) for e in gin.candidate.elements] == [
        ("UPPER(email)", "gin_trgm_ops")
    ]
    assert gin.extensions == ("pg_trgm",)
    assert 'USING gin ((UPPER("email")) gin_trgm_ops)' in gin.sql
    assert gin.django.startswith('GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name=')


def test_an_existing_trigram_index_serves_the_like():
    existing = ExistingIndex(
        HOOK,
        "hook_email_trgm",
        (IndexElement(expression="UPPER(email)", opclass="gin_trgm_ops"),),
        "Meta.indexes",
        method="gin",
    )
    advice = _advise(
        "SELECT * FROM hook WHERE UPPER(hook.email::text) LIKE UPPER('%acme%')", _schema(existing)
    )
    assert all(r.candidate.method != "gin" for r in advice.recommendations)
    assert any(s.index == "hook_email_trgm" for s in advice.served)
