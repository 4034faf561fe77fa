"""Live mode at scale: the what-if EXPLAINs go to PostgreSQL pipelined, hundreds to a
transaction, and the selection must be the one the one-at-a-time path makes.

One module-scoped database of a few tables with real rows; the workload mixes parameterised
and literal statements, a join, an expression lookup, a partial-friendly filter, statements the
planner cannot cost and one the guard refuses; the candidates include narrow and wide ones (a
choice that supersedes another), an expression index, a unique one and one HypoPG refuses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idxadvisor.live.connection import ReadOnlyDatabase, connect_readonly
from idxadvisor.live.explain import parameter_count
from idxadvisor.live.selection import Selection, select
from idxadvisor.live.whatif import PlanError, WhatIf
from idxadvisor.schema.catalog import read_schema
from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement
from idxadvisor.types.workload import Query
from tests.helpers import (
    TempDatabase,
    hypopg_database,
)

TABLES = ("orders", "events", "notes")


def _setup() -> str:
    parts = []
    for n, t in enumerate(TABLES):
        rows = 20_000 * (n + 1)
        parts.append(f"""
CREATE TABLE {t} (
    id bigserial PRIMARY KEY,
    account_id int NOT NULL,
    status varchar(20) NOT NULL,
    email varchar(200) NOT NULL,
    amount numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO {t} (account_id, status, email, amount, created_at)
SELECT g % 500,
       CASE WHEN g % 50 = 0 THEN 'pending' WHEN g % 50 = 1 THEN 'failed' ELSE 'done' END,
       'user' || g || '@example.com', (g % 1000) / 7.0,
       timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, {rows}) g;
ANALYZE {t};""")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def scale_db(pg_server_url: str) -> Iterator[TempDatabase]:
    with hypopg_database(pg_server_url, "idxadv_live_scale", _setup()) as db:
        yield db


@pytest.fixture
def ro(scale_db: TempDatabase) -> Iterator[ReadOnlyDatabase]:
    with connect_readonly(scale_db.url) as db:
        yield db


def q(qid: str, sql: str, calls: int = 10) -> Query:
    return Query(id=qid, sql=sql, fingerprint=sql, source="sql", calls=calls)


def col(name: str, descending: bool = False) -> IndexElement:
    return IndexElement(column=name, descending=descending)


PENDING = Predicate(
    "status", Op.IN, "status IN ('pending', 'failed')", constants=("'pending'", "'failed'")
)
UNPLANNABLE = "SELECT count(*) FROM orders WHERE status = $1 ORDER BY created_at"  # GROUP BY


def workload() -> tuple[list[Query], list[IndexCandidate]]:
    queries: list[Query] = []
    candidates: list[IndexCandidate] = []
    for t in TABLES:
        queries += [
            q(f"{t}_acct", f"SELECT id, amount FROM {t} WHERE account_id = $1", calls=50),
            q(
                f"{t}_recent",
                f"SELECT * FROM {t} WHERE account_id = $1 ORDER BY created_at DESC LIMIT 20",
                calls=30,
            ),
            q(f"{t}_lit", f"SELECT id FROM {t} WHERE account_id = 7 AND status = 'done'"),
            q(f"{t}_mail", f"SELECT id FROM {t} WHERE UPPER(email) = UPPER($1)", calls=20),
            q(
                f"{t}_queue",
                f"SELECT id FROM {t} WHERE status IN ('pending', 'failed') "
                "ORDER BY created_at LIMIT 50",
                calls=40,
            ),
            q(f"{t}_range", f"SELECT count(*) FROM {t} WHERE created_at >= $1 AND created_at < $2"),
            q(f"{t}_upd", f"UPDATE {t} SET status = 'done' WHERE email = $1", calls=5),
        ]
        candidates += [
            IndexCandidate(t, (col("account_id"),)),
            IndexCandidate(t, (col("account_id"), col("created_at", descending=True))),
            IndexCandidate(t, (col("account_id"),), include=("amount",)),
            IndexCandidate(t, (IndexElement(expression="UPPER(email)"),)),
            IndexCandidate(t, (col("created_at"),), condition=(PENDING,)),
            IndexCandidate(t, (col("created_at"),)),
            IndexCandidate(t, (col("email"),), unique=True),
            IndexCandidate(t, (col("status"),)),
            IndexCandidate(t, (col("created_at"),), include=("id",), method="brin"),  # refused
        ]
    queries += [
        q(
            "join",
            "SELECT o.id FROM orders o JOIN events e ON e.account_id = o.account_id "
            "WHERE o.status = $1 AND e.email = $2 LIMIT 10",
        ),
        q("unplannable", UNPLANNABLE),
        q("chain", "SELECT id FROM orders WHERE account_id = 1; DELETE FROM orders"),
    ]
    return queries, candidates


def evidence(sel: Selection) -> tuple:
    """Everything a selection reports, comparable."""
    return (
        [
            (c.candidate, c.size_bytes, round(c.benefit, 6), c.best_ratio, c.reliable, c.note)
            for c in sel.chosen
        ],
        sorted((repr(r.candidate.definition()), r.reason) for r in sel.rejected),
        sorted((repr(r.candidate.definition()), r.reason) for r in sel.unverified),
        dict(sel.costs),
        sel.skipped,
    )


def _leftovers(db: ReadOnlyDatabase) -> tuple[int, int]:
    hypo = db.fetchone("SELECT count(*) FROM hypopg_list_indexes")[0]
    prepared = db.fetchone("SELECT count(*) FROM pg_prepared_statements")[0]
    return hypo, prepared


def test_pipelined_selection_is_the_one_at_a_time_selection(ro: ReadOnlyDatabase) -> None:
    queries, candidates = workload()
    schema = read_schema(ro)
    pipelined = select(candidates, queries, WhatIf(ro), schema=schema)
    alone = select(candidates, queries, WhatIf(ro, pipelined=False), schema=schema)
    assert evidence(pipelined) == evidence(alone)
    assert pipelined.explains == alone.explains  # the same EXPLAINs, sent differently
    # The workload exercises what it should: choices, a superseded or unneeded candidate, the
    # expression proxy, a refusal by HypoPG and by the guard, a query the planner cannot cost.
    assert len(pipelined.chosen) >= len(TABLES)
    assert any("HypoPG cannot create it" in r.reason for r in pipelined.rejected)
    assert any(r.reason.startswith("superseded by") for r in pipelined.rejected)
    assert any(not c.reliable for c in pipelined.chosen)
    skipped = " ".join(s.reason for s in pipelined.skipped)
    assert "must appear in the GROUP BY" in skipped
    assert "2 statements in one text" in skipped
    assert _leftovers(ro) == (0, 0)


def test_a_query_failing_mid_pipeline_reads_as_alone_and_leaves_nothing(
    ro: ReadOnlyDatabase,
) -> None:
    good = [f"SELECT id FROM {t} WHERE account_id = $1" for t in TABLES]
    index = IndexCandidate("orders", (col("account_id"),))
    requests = [
        (good[0], [index]),
        (UNPLANNABLE, [index]),  # fails inside the pipeline: the ones after it still run
        (good[1], []),
        ("SELECT id FROM orders WHERE nosuch = $1", []),
        ("SELECT 1; DROP TABLE orders", []),  # the guard: never sent
        (good[2], [index]),
        (good[0], []),
    ]
    pipelined = WhatIf(ro).costs(requests)
    reference = WhatIf(ro, pipelined=False)
    for found, (text, hypothetical) in zip(pipelined, requests, strict=True):
        try:
            expected: object = reference.cost(text, hypothetical)
        except PlanError as exc:
            expected = str(exc)
        assert (str(found) if isinstance(found, PlanError) else found) == expected
    assert isinstance(pipelined[1], PlanError) and "GROUP BY" in str(pipelined[1])
    assert "not sent to the server" in str(pipelined[4])
    assert pipelined[0].candidates_used == (index,)
    assert pipelined[0].total_cost < pipelined[6].total_cost
    assert _leftovers(ro) == (0, 0)  # no hypothetical index, no prepared statement
    assert ro.fetchone("SELECT current_setting('transaction_read_only')") == ("on",)


def test_tables_that_share_no_query_are_chosen_for_independently(ro: ReadOnlyDatabase) -> None:
    queries, candidates = workload()
    queries = [x for x in queries if x.id not in ("join", "unplannable", "chain")]
    schema = read_schema(ro)
    whatif = WhatIf(ro)
    together = select(candidates, queries, whatif, schema=schema)
    apart: list[tuple] = []
    for t in TABLES:
        own = select(
            [c for c in candidates if c.table == t],
            [x for x in queries if x.id.startswith(f"{t}_")],
            whatif,
            schema=schema,
        )
        apart += [(c.candidate, round(c.benefit, 6)) for c in own.chosen]
    assert sorted(map(repr, apart)) == sorted(
        repr((c.candidate, round(c.benefit, 6))) for c in together.chosen
    )


@pytest.mark.parametrize(
    "text",
    [
        "SELECT id FROM orders WHERE account_id = $1",
        "SELECT id FROM orders WHERE account_id = $2 AND status = $1",
        "SELECT id FROM orders WHERE email = '$3' AND account_id = $1 /* $7 */",
        "SELECT id FROM orders WHERE email = $q$ $4 $q$ AND account_id = $1 -- $9",
        "SELECT id FROM orders WHERE account_id = $1 AND amount BETWEEN $2 AND $2 + $1",
    ],
)
def test_the_parameter_count_is_the_servers(ro: ReadOnlyDatabase, text: str) -> None:
    """The NULLs for a generic plan are counted by the lexer, without asking the server: the
    count must be the server's own."""
    with ro.transaction() as conn:
        conn.execute(f"PREPARE counted AS {text}")
        try:
            row = conn.execute(
                "SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                "WHERE name = 'counted'"
            ).fetchone()
        finally:
            conn.execute("DEALLOCATE counted")
    assert row is not None
    assert parameter_count(text) == row[0]
