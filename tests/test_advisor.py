"""The advisor's rules, read like the docs: a query, the index we expect, and why.

Queries go through the real parser (sqlglot) into access patterns; the schema is built by hand
so these tests need no Django project (the example-project tests cover that path).
"""

from __future__ import annotations

import pytest

from idxadvisor.advisor import advise
from idxadvisor.patterns.extractor import extract
from idxadvisor.types.schema import Column, ColumnStats, ExistingIndex, IndexElement, Schema, Table
from idxadvisor.types.workload import Query

HOOK = "hook"


def _schema(*indexes: ExistingIndex, stats: dict[str, ColumnStats] | None = None,
            rows: int | None = None) -> Schema:
    stats = stats or {}
    columns = (
        Column("id", "id", "bigint"),
        Column("channel_id", "channel", "bigint", references="channel"),
        Column("status", "status", "varchar(16)", choices=True),
        Column("next_retry_at", "next_retry_at", "timestamptz", null=True),
        Column("created_at", "created_at", "timestamptz", insert_timestamp=True),
        Column("email", "email", "varchar(254)"),
        Column("org", "org", "integer"),
        Column("is_active", "is_active", "boolean", choices=True),
    )
    columns = tuple(
        Column(c.name, c.field, c.db_type, c.null, c.unique, c.references, stats.get(c.name),
               c.choices, c.insert_timestamp)
        for c in columns
    )
    pk = ExistingIndex(HOOK, "hook_pkey", (IndexElement("id"),), "primary key", unique=True)
    return Schema({HOOK: Table(HOOK, columns, rows=rows)}, (pk, *indexes))


def _advise(sql: str, schema: Schema):
    query = Query(id="q1", sql=sql, fingerprint=sql, source="sql")
    return advise(extract(query), schema)


def _keys(rec) -> list[tuple[str, bool]]:
    return [(e.key, e.descending) for e in rec.candidate.elements]


def test_constant_in_list_goes_into_the_partial_predicate_not_the_key():
    # (next_retry_at) WHERE status IN (...) returns rows in order and stops at the LIMIT;
    # (status, next_retry_at) would need two ranges merged and sorted.
    advice = _advise(
        "SELECT * FROM hook WHERE status IN ('pending', 'failed') AND next_retry_at <= $1 "
        "ORDER BY next_retry_at LIMIT 100", _schema())
    [rec] = advice.recommendations
    assert _keys(rec) == [("next_retry_at", False)]
    assert rec.candidate.condition_sql == "status IN ('pending', 'failed')"
    assert "partial index" in rec.reason
    assert rec.sql.startswith('CREATE INDEX CONCURRENTLY "hook_next_re_')
    assert rec.sql.endswith(""" ("next_retry_at") WHERE "status" IN ('pending', 'failed');""")


def test_equality_then_order_by_in_the_query_direction():
    advice = _advise(
        "SELECT * FROM hook WHERE org = $1 AND created_at >= $2 AND created_at < $3 "
        "ORDER BY created_at DESC LIMIT 50", _schema())
    [rec] = advice.recommendations
    assert _keys(rec) == [("org", False), ("created_at", True)]
    assert rec.fields == ("org", "-created_at")


def test_case_insensitive_lookup_gets_an_expression_index():
    advice = _advise(
        "SELECT * FROM hook WHERE UPPER(hook.email::text) = UPPER($1) ORDER BY hook.id LIMIT 1",
        _schema())
    [rec] = advice.recommendations
    assert [e.expression for e in rec.candidate.elements] == ["UPPER(email)"]
    assert rec.django.startswith('models.Index(Upper("email"), name="hook_email_')
    assert '((UPPER("email")))' in rec.sql or '(UPPER("email"))' in rec.sql


def test_lookup_served_by_the_primary_key_proposes_nothing():
    advice = _advise("SELECT * FROM hook WHERE id = $1 LIMIT 21", _schema())
    assert advice.recommendations == ()
    assert [(s.query_id, s.index) for s in advice.served] == [("q1", "hook_pkey")]


def test_an_existing_composite_serves_a_query_on_its_leading_column():
    existing = ExistingIndex(HOOK, "hook_org_created", (IndexElement("org"),
                             IndexElement("created_at", descending=True)), "Meta.indexes")
    advice = _advise("SELECT * FROM hook WHERE org = $1", _schema(existing))
    assert advice.recommendations == ()
    assert advice.served[0].index == "hook_org_created"


def test_an_index_that_cannot_deliver_the_order_does_not_count_as_serving():
    existing = ExistingIndex(HOOK, "hook_org", (IndexElement("org"),), "db_index")
    advice = _advise("SELECT * FROM hook WHERE org = $1 ORDER BY created_at DESC LIMIT 20",
                     _schema(existing))
    [rec] = advice.recommendations
    assert _keys(rec) == [("org", False), ("created_at", True)]
    # ... and the single-column index it leads becomes redundant.
    assert [r.index.name for r in advice.redundant] == ["hook_org"]
    assert rec.redundant == ("hook_org",)


def test_partial_index_is_not_used_when_the_query_does_not_imply_its_predicate():
    existing = ExistingIndex(HOOK, "hook_pending", (IndexElement("next_retry_at"),),
                             "Meta.indexes", condition="status = 'pending'")
    advice = _advise("SELECT * FROM hook WHERE status = 'failed' AND next_retry_at <= $1 "
                     "ORDER BY next_retry_at LIMIT 10", _schema(existing))
    assert len(advice.recommendations) == 1
    assert advice.served == ()


def test_partial_index_serves_a_narrower_constant():
    existing = ExistingIndex(HOOK, "hook_due", (IndexElement("next_retry_at"),),
                             "Meta.indexes", condition="status IN ('pending', 'failed')")
    advice = _advise("SELECT * FROM hook WHERE status = 'pending' AND next_retry_at <= $1 "
                     "ORDER BY next_retry_at LIMIT 10", _schema(existing))
    assert advice.recommendations == ()
    assert advice.served[0].index == "hook_due"


def test_candidates_merge_when_one_is_a_prefix_of_another():
    queries = [
        Query("q1", "SELECT * FROM hook WHERE org = $1", "a", "sql"),
        Query("q2", "SELECT * FROM hook WHERE org = $1 ORDER BY created_at DESC LIMIT 5", "b",
              "sql"),
    ]
    patterns = tuple(p for q in queries for p in extract(q))
    [rec] = advise(patterns, _schema()).recommendations
    assert set(rec.serves) == {"q1", "q2"}
    assert _keys(rec) == [("org", False), ("created_at", True)]


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


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [(0.02, "condition"), (0.35, "key"), (0.95, "neither")],
)
def test_statistics_decide_partial_predicate_or_key(frequency, expected):
    stats = {"status": ColumnStats(n_distinct=4, most_common_vals=("failed", "other"),
                                   most_common_freqs=(frequency, 1 - frequency))}
    advice = _advise("SELECT * FROM hook WHERE status = 'failed' AND org = $1",
                     _schema(stats=stats, rows=10**6))
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


def test_small_tables_are_dropped_with_a_reason():
    advice = _advise("SELECT * FROM hook WHERE org = $1", _schema(rows=40))
    assert advice.recommendations == ()
    assert "too small" in advice.rejected[0].reason


def test_covering_include_for_a_narrow_select():
    advice = _advise("SELECT hook.status FROM hook WHERE hook.org = $1", _schema())
    [rec] = advice.recommendations
    assert rec.candidate.include == ("status",)
    assert 'INCLUDE ("status")' in rec.sql


def test_names_are_stable_and_fit_djangos_limit():
    sql = "SELECT * FROM hook WHERE org = $1 ORDER BY created_at DESC LIMIT 50"
    first = _advise(sql, _schema()).recommendations[0].name
    again = _advise(sql, _schema()).recommendations[0].name
    other = _advise(sql.replace("DESC", "ASC"), _schema()).recommendations[0].name
    assert first == again and first != other
    assert len(first) <= 30 and first.isidentifier()


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
        Query("q1", "SELECT * FROM hook WHERE org = $1 AND next_retry_at IS NULL "
                    "ORDER BY email LIMIT 5", "a", "sql"),
        Query("q2", "SELECT * FROM hook WHERE org = $1 AND email = $2 LIMIT 21", "b", "sql"),
    ]
    patterns = tuple(p for q in queries for p in extract(q))
    [rec] = advise(patterns, _schema()).recommendations
    assert rec.candidate.condition == ()
    assert set(rec.serves) == {"q1", "q2"}
    assert "checked on the rows the seek finds" in rec.reason


def test_a_full_index_on_the_same_keys_serves_a_query_with_an_extra_constant_filter():
    # What merge() folds, serving must accept: otherwise a second run proposes it again.
    existing = ExistingIndex(HOOK, "hook_org_email", (IndexElement("org"), IndexElement("email")),
                             "Meta.indexes")
    advice = _advise("SELECT * FROM hook WHERE org = $1 AND next_retry_at IS NULL "
                     "ORDER BY email LIMIT 5", _schema(existing))
    assert advice.recommendations == ()
    assert advice.served[0].index == "hook_org_email"


def test_leading_wildcard_like_gets_a_trigram_gin_index_beside_the_btree():
    advice = _advise(
        "SELECT * FROM hook WHERE org = $1 AND UPPER(hook.email::text) LIKE UPPER('%acme%') "
        "ORDER BY created_at DESC LIMIT 50", _schema())
    by_method = {r.candidate.method: r for r in advice.recommendations}
    assert set(by_method) == {"btree", "gin"}
    gin = by_method["gin"]
    assert [(e.expression, e.opclass) for e in gin.candidate.elements] == [
        ("UPPER(email)", "gin_trgm_ops")]
    assert gin.extensions == ("pg_trgm",)
    assert 'USING gin ((UPPER("email")) gin_trgm_ops)' in gin.sql
    assert gin.django.startswith('GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name=')


def test_an_existing_trigram_index_serves_the_like():
    existing = ExistingIndex(HOOK, "hook_email_trgm", (IndexElement(
        expression="UPPER(email)", opclass="gin_trgm_ops"),), "Meta.indexes", method="gin")
    advice = _advise("SELECT * FROM hook WHERE UPPER(hook.email::text) LIKE UPPER('%acme%')",
                     _schema(existing))
    assert all(r.candidate.method != "gin" for r in advice.recommendations)
    assert any(s.index == "hook_email_trgm" for s in advice.served)
