"""HypoPG what-if costs and the greedy selection, on real PostgreSQL with real data.

One module-scoped database holds ``hook`` (100k rows: a skewed varchar status, unique-valued
emails, an append-only ``created_at``, a 50/50 boolean) and ``tiny`` (50 rows).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idxadvisor.advisor.django_index import create_index_sql
from idxadvisor.advisor.statistics import is_append_only_timestamp
from idxadvisor.live.connection import ReadOnlyDatabase, connect_readonly
from idxadvisor.live.selection import select
from idxadvisor.live.whatif import HYPOPG_MISSING, WhatIf
from idxadvisor.schema.catalog import read_schema
from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement
from idxadvisor.types.workload import Query
from tests.helpers import (
    TempDatabase,
    create_database,
    drop_database,
    hypopg_database,
)

SETUP = """
CREATE TABLE hook (
    id bigserial PRIMARY KEY,
    org_id int NOT NULL,
    status varchar(20) NOT NULL,
    email varchar(200) NOT NULL,
    active boolean NOT NULL,
    created_at timestamptz NOT NULL,
    next_retry_at timestamptz NOT NULL,
    payload text NOT NULL
);
INSERT INTO hook (org_id, status, email, active, created_at, next_retry_at, payload)
SELECT g % 200,
       CASE WHEN g % 100 = 0 THEN 'pending' WHEN g % 100 = 1 THEN 'failed' ELSE 'done' END,
       'user' || g || '@example.com',
       g % 2 = 0,
       timestamptz '2024-01-01' + g * interval '1 minute',
       timestamptz '2024-01-01' + ((g * 7919) % 100000) * interval '1 minute',
       repeat('x', 60)
FROM generate_series(1, 100000) g;
CREATE TABLE tiny (id serial PRIMARY KEY, code varchar(10) NOT NULL);
INSERT INTO tiny (code) SELECT 'c' || g FROM generate_series(1, 50) g;
ANALYZE hook;
ANALYZE tiny;
"""


@pytest.fixture(scope="module")
def data_db(pg_server_url: str) -> Iterator[TempDatabase]:
    with hypopg_database(pg_server_url, "idxadv_live_whatif", SETUP) as db:
        yield db


@pytest.fixture
def ro(data_db: TempDatabase) -> Iterator[ReadOnlyDatabase]:
    with connect_readonly(data_db.url) as db:
        yield db


def col(name: str, descending: bool = False) -> IndexElement:
    return IndexElement(column=name, descending=descending)


def q(qid: str, sql: str, calls: int = 1, total_ms: float = 0.0) -> Query:
    return Query(
        id=qid, sql=sql, fingerprint=sql, source="sql", calls=calls, total_time_ms=total_ms
    )


STATUS_IN = Predicate(
    "status", Op.IN, "status IN ('pending', 'failed')", constants=("'pending'", "'failed'")
)
RETRY_QUERY = (
    "SELECT id FROM hook WHERE status IN ('pending', 'failed') "
    "AND next_retry_at <= '2024-02-01' ORDER BY next_retry_at LIMIT 100"
)


def _leftovers(db: ReadOnlyDatabase) -> tuple[int, int]:
    hypo = db.fetchone("SELECT count(*) FROM hypopg_list_indexes")[0]
    prepared = db.fetchone("SELECT count(*) FROM pg_prepared_statements")[0]
    return hypo, prepared


def test_pitfall_1_partial_predicate_is_folded_before_hypopg(ro: ReadOnlyDatabase) -> None:
    # The pitfall itself: the predicate as written gives an index the planner never picks.
    with ro.transaction() as conn:
        conn.execute(
            "SELECT hypopg_create_index('CREATE INDEX ON hook (next_retry_at) "
            "WHERE status IN (''pending'', ''failed'')')"
        )
        raw_plan = str(conn.execute(f"EXPLAIN {RETRY_QUERY}").fetchall())
        conn.execute("SELECT hypopg_reset()")
    assert "btree_hook_next_retry_at" not in raw_plan

    wi = WhatIf(ro)
    partial = IndexCandidate("hook", (col("next_retry_at"),), condition=(STATUS_IN,))
    assert wi.create_sql(partial) == (
        'CREATE INDEX ON "hook" ("next_retry_at") '
        "WHERE ((status)::text = ANY ('{pending,failed}'::text[]));"
    )
    before = wi.cost(RETRY_QUERY)
    after = wi.cost(RETRY_QUERY, [partial])
    assert after.candidates_used == (partial,)
    assert after.total_cost < before.total_cost / 5
    assert _leftovers(ro) == (0, 0)


def test_pitfall_2_expression_index_estimated_from_column_stats(
    ro: ReadOnlyDatabase, data_db: TempDatabase
) -> None:
    query = "SELECT * FROM hook WHERE UPPER(email::text) = 'USER500@EXAMPLE.COM'"
    upper = IndexCandidate("hook", (IndexElement(expression="UPPER(email::TEXT)"),))
    wi = WhatIf(ro)
    before = wi.cost(query)
    direct = wi._explain_with(query, [upper])  # what HypoPG alone says
    estimate = wi.cost(query, [upper])
    assert estimate.reliable is False and estimate.proxied
    assert "statistics of email" in estimate.note
    assert estimate.candidates_used == (upper,)
    # HypoPG alone guesses 0.5 % of rows match; the column proxy knows emails are distinct.
    assert estimate.total_cost < direct.total_cost / 20
    assert estimate.total_cost < before.total_cost / 100

    # Agrees with the real index once built and analysed.
    with data_db.connect(autocommit=True) as conn:
        conn.execute("CREATE INDEX hook_upper_email ON hook (UPPER(email::text))")
        conn.execute("ANALYZE hook")
        try:
            plan = conn.execute(f"EXPLAIN (FORMAT JSON) {query}").fetchone()[0][0]["Plan"]
        finally:
            conn.execute("DROP INDEX hook_upper_email")
            conn.execute("ANALYZE hook")
    assert "hook_upper_email" in str(plan)
    assert plan["Total Cost"] < direct.total_cost / 20
    assert plan["Total Cost"] < estimate.total_cost * 5


def test_expression_without_a_column_stand_in_is_flagged_not_rejected(ro: ReadOnlyDatabase) -> None:
    # org_id % 7 has far fewer distinct values than org_id: the column's statistics would
    # over-promise, so the number is only flagged.
    query = "SELECT id FROM hook WHERE org_id % 7 = 3"
    mod = IndexCandidate("hook", (IndexElement(expression="org_id % 7"),))
    wi = WhatIf(ro)
    estimate = wi.cost(query, [mod])
    assert not estimate.reliable and not estimate.proxied
    assert estimate.note.startswith("what-if cost unreliable for org_id % 7")
    sel = select([mod], [q("q_mod", query)], wi)
    assert mod not in [r.candidate for r in sel.rejected]
    if sel.chosen:
        assert not sel.chosen[0].reliable
    else:
        assert "unreliable for an expression index" in sel.unverified[0].reason


def test_cost_direction_agrees_with_real_explain(
    ro: ReadOnlyDatabase, data_db: TempDatabase
) -> None:
    query = "SELECT * FROM hook WHERE org_id = 7 ORDER BY created_at DESC LIMIT 20"
    candidate = IndexCandidate("hook", (col("org_id"), col("created_at", descending=True)))
    wi = WhatIf(ro)
    sel = select([candidate], [q("q_org", query)], wi)
    cost = sel.costs["q_org"]
    assert [c.candidate for c in sel.chosen] == [candidate]
    assert cost.cost_after < cost.cost_before
    assert cost.index_used == "hook(org_id, created_at DESC)"
    assert sel.chosen[0].size_bytes > 100_000  # from hypopg_relation_size

    with data_db.connect(autocommit=True) as conn:
        real_before = conn.execute(f"EXPLAIN (FORMAT JSON) {query}").fetchone()[0][0]["Plan"]
        conn.execute(create_index_sql(candidate, "hook_org_created", concurrently=False))
        try:
            real_after = conn.execute(f"EXPLAIN (FORMAT JSON) {query}").fetchone()[0][0]["Plan"]
            real_size = conn.execute("SELECT pg_relation_size('hook_org_created')").fetchone()[0]
        finally:
            conn.execute("DROP INDEX hook_org_created")
    assert real_after["Total Cost"] < real_before["Total Cost"]
    assert "hook_org_created" in str(real_after)
    assert abs(real_before["Total Cost"] - cost.cost_before) < 0.01 * cost.cost_before
    # HypoPG's size estimate is in the right range.
    assert 0.5 < sel.chosen[0].size_bytes / real_size < 2


def test_generic_plan_for_parameters(ro: ReadOnlyDatabase) -> None:
    query = "SELECT * FROM hook WHERE email = $1"
    wi = WhatIf(ro)
    before = wi.cost(query)
    after = wi.cost(query, [IndexCandidate("hook", (col("email"),))])
    assert before.generic and after.generic
    assert after.total_cost < before.total_cost / 100
    with pytest.raises(Exception, match="could not determine data type"):
        wi.cost("SELECT * FROM hook WHERE $1 IS NULL")
    assert _leftovers(ro) == (0, 0)


def test_tiny_table_and_low_selectivity_are_rejected_with_reasons(ro: ReadOnlyDatabase) -> None:
    schema = read_schema(ro)
    tiny = IndexCandidate("tiny", (col("code"),))
    active = IndexCandidate("hook", (col("active"),))
    good = IndexCandidate("hook", (col("next_retry_at"),), condition=(STATUS_IN,))
    queries = [
        q("q_tiny", "SELECT * FROM tiny WHERE code = 'c7'"),
        q("q_active", "SELECT * FROM hook WHERE active"),
        q("q_retry", RETRY_QUERY),
    ]
    sel = select([tiny, active, good], queries, WhatIf(ro), schema=schema)
    reasons = {r.candidate.table + ":" + r.candidate.keys[0]: r.reason for r in sel.rejected}
    assert reasons["tiny:code"] == "table tiny has 50 rows — too small to matter (< 1,000 rows)"
    assert "q_active" in reasons["hook:active"]
    assert "5% threshold" in reasons["hook:active"]
    assert [c.candidate for c in sel.chosen] == [good]
    assert sel.costs["q_active"].cost_after == sel.costs["q_active"].cost_before


def test_brin_for_append_only_timestamp(ro: ReadOnlyDatabase) -> None:
    schema = read_schema(ro, ["hook"])
    hook = schema.tables["hook"]
    assert hook.rows == 100_000
    assert is_append_only_timestamp(hook.column("created_at"))
    assert not is_append_only_timestamp(hook.column("next_retry_at"))  # scattered
    assert not is_append_only_timestamp(hook.column("id"))  # correlated, but not a timestamp

    query = (
        "SELECT count(*) FROM hook WHERE created_at >= '2024-02-01' AND created_at < '2024-02-03'"
    )
    brin = IndexCandidate("hook", (col("created_at"),), method="brin")
    btree = IndexCandidate("hook", (col("created_at"),))
    wi = WhatIf(ro)
    sel = select([brin], [q("q_range", query)], wi)
    assert [c.candidate for c in sel.chosen] == [brin]
    assert sel.costs["q_range"].cost_after < 0.7 * sel.costs["q_range"].cost_before
    assert wi.hypothetical(brin).size_bytes * 50 < wi.hypothetical(btree).size_bytes


def test_greedy_selection_is_extend_style_and_weighted(ro: ReadOnlyDatabase) -> None:
    wide = IndexCandidate("hook", (col("org_id"), col("created_at")))
    narrow = IndexCandidate("hook", (col("org_id"),))
    email = IndexCandidate("hook", (col("email"),))
    queries = [
        q(
            "q_org",
            "SELECT * FROM hook WHERE org_id = 3 ORDER BY created_at LIMIT 10",
            total_ms=500.0,
        ),
        q("q_org2", "SELECT * FROM hook WHERE org_id = 4", total_ms=100.0),
        q("q_mail", "SELECT * FROM hook WHERE email = 'user9@example.com'", total_ms=1.0),
    ]
    wi = WhatIf(ro)
    sel = select([narrow, wide, email], queries, wi)
    chosen = [c.candidate for c in sel.chosen]
    assert wide in chosen and email in chosen
    # (org_id) is smaller, so it comes first; once (org_id, created_at) is in, it brings
    # nothing more and is dropped again (Extend-style), with the evidence.
    assert narrow not in chosen
    [dropped] = [r for r in sel.rejected if r.candidate == narrow]
    assert dropped.reason.startswith("superseded by hook(org_id, created_at): without it q_org2")
    assert all(c.benefit > 0 for c in sel.chosen)
    # Benefit per byte, weighted: the heavy org queries come first.
    assert chosen.index(wide) < chosen.index(email)
    for qid in ("q_org", "q_org2", "q_mail"):
        assert sel.costs[qid].cost_after < sel.costs[qid].cost_before
    # Cached: re-running costs nothing new.
    calls = wi.calls
    select([narrow, wide, email], queries, wi)
    assert wi.calls == calls
    # max_indexes=1 keeps only the heaviest.
    assert [c.candidate for c in select([email, wide], queries, wi, max_indexes=1).chosen] == [wide]


def test_cache_key_is_the_query_and_the_indexes_on_its_tables(ro: ReadOnlyDatabase) -> None:
    wi = WhatIf(ro)
    query = "SELECT * FROM hook WHERE email = 'user3@example.com'"
    email = IndexCandidate("hook", (col("email"),))
    on_tiny = IndexCandidate("tiny", (col("code"),))
    first = wi.cost(query, [email])
    calls = wi.calls
    # A candidate on another table does not change the plan: served from the cache.
    assert wi.cost(query, [on_tiny, email]) == first
    assert wi.cost(query, [email, on_tiny]) == first
    assert wi.calls == calls
    wi.cost(query, [email, IndexCandidate("hook", (col("status"),))])
    assert wi.calls == calls + 1


def test_gin_and_unprovable_candidates_are_not_rejected(ro: ReadOnlyDatabase) -> None:
    gin = IndexCandidate("hook", (col("payload"),), method="gin")
    sel = select([gin], [q("q_p", "SELECT id FROM hook WHERE payload LIKE '%xx%'")], WhatIf(ro))
    assert sel.rejected == () and sel.chosen == ()
    [kept] = sel.unverified
    assert kept.candidate == gin and 'access method "gin" is not supported' in kept.reason


def test_without_hypopg_says_so_once(pg_server_url: str) -> None:
    plain = create_database(pg_server_url, prefix="idxadv_live_nohypo")
    try:
        with plain.connect(autocommit=True) as conn:
            conn.execute("CREATE TABLE t (a int)")
        with connect_readonly(plain.url) as db:
            wi = WhatIf(db)
            assert not wi.available
            assert wi.unavailable_reason == HYPOPG_MISSING
            assert "CREATE EXTENSION hypopg" in HYPOPG_MISSING
            sel = select(
                [IndexCandidate("t", (col("a"),))], [q("q_t", "SELECT * FROM t WHERE a = 1")], wi
            )
            assert sel.note == HYPOPG_MISSING and sel.chosen == () and sel.rejected == ()
            assert not db.has_extension("hypopg")  # nothing was created
    finally:
        drop_database(pg_server_url, plain.name)
