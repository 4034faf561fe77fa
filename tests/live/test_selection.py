"""The greedy what-if selection at scale: what-if calls grow with the queries, not with
candidates x queries; an index budget is kept; only analysed queries are costed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idxadvisor.live.connection import connect_readonly
from idxadvisor.live.selection import parse_byte_size, select
from idxadvisor.live.whatif import WhatIf
from idxadvisor.patterns.extractor import analyse
from idxadvisor.schema.catalog import read_schema
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement
from idxadvisor.types.workload import Query
from idxadvisor.workload import build_workload
from tests.helpers import (
    TempDatabase,
    hypopg_database,
)

TABLES = 8


def _setup() -> str:
    parts = []
    for i in range(TABLES):
        rows = 20_000 * (i + 1)  # different sizes: different index sizes
        parts.append(f"""
CREATE TABLE t{i} (id bigserial PRIMARY KEY, account int NOT NULL, code int NOT NULL,
                   note text NOT NULL);
INSERT INTO t{i} (account, code, note)
SELECT g % 997, g % 313, 'n' || g FROM generate_series(1, {rows}) g;
ANALYZE t{i};""")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def many_db(pg_server_url: str) -> Iterator[TempDatabase]:
    with hypopg_database(pg_server_url, "idxadv_live_sel", _setup()) as db:
        yield db


def q(qid: str, sql: str) -> Query:
    return Query(id=qid, sql=sql, fingerprint=sql, source="sql")


def workload() -> tuple[list[Query], list[IndexCandidate]]:
    queries, candidates = [], []
    for i in range(TABLES):
        queries.append(q(f"q{i}a", f"SELECT id FROM t{i} WHERE account = {i + 1}"))
        queries.append(q(f"q{i}c", f"SELECT id FROM t{i} WHERE code = {i + 2}"))
        candidates.append(IndexCandidate(f"t{i}", (IndexElement("account"),)))
        candidates.append(IndexCandidate(f"t{i}", (IndexElement("code"),)))
    return queries, candidates


def test_whatif_calls_grow_with_the_workload_not_its_square(many_db: TempDatabase) -> None:
    queries, candidates = workload()
    with connect_readonly(many_db.url) as db:
        whatif = WhatIf(db)
        sel = select(candidates, queries, whatif, schema=read_schema(db))
        assert len(sel.chosen) == len(candidates)  # each serves its own query
        # Base cost, one evaluation per (candidate, query on its table), the final costs and
        # marginal benefits: a few per query. Candidates x queries would be 16 x 16 = 256.
        assert sel.explains <= 5 * len(queries), sel.explains
        assert sel.explains == whatif.calls
        again = select(candidates, queries, whatif, schema=read_schema(db))
        assert again.explains == 0 and again.candidates == sel.candidates  # all cached


@pytest.mark.parametrize("share", [0.0, 0.3, 0.6, 1.0])
def test_the_budget_is_kept_and_the_rest_say_why(many_db: TempDatabase, share: float) -> None:
    queries, candidates = workload()
    with connect_readonly(many_db.url) as db:
        whatif = WhatIf(db)
        schema = read_schema(db)
        full = select(candidates, queries, whatif, schema=schema)
        total = sum(c.size_bytes for c in full.chosen)
        budget = int(total * share)
        sel = select(candidates, queries, whatif, schema=schema, max_index_bytes=budget)
    used = sum(c.size_bytes for c in sel.chosen)
    assert used <= budget
    over = [r for r in sel.rejected if "does not fit the index budget" in r.reason]
    assert len(sel.chosen) + len(over) == len(candidates)
    sizes = {c.candidate: c.size_bytes for c in full.chosen}
    for r in over:
        assert used + sizes[r.candidate] > budget  # truly did not fit in what was left
        assert "--max-index-bytes" in r.reason
    if share == 1.0:
        assert not over
    # Benefit per byte: within the budget, the smaller tables' indexes (same saving ratio,
    # fewer bytes) come first.
    if sel.chosen and over:
        assert max(sizes[c.candidate] for c in sel.chosen) <= max(sizes[r.candidate] for r in over)


def test_only_queries_with_access_patterns_are_costed(many_db: TempDatabase) -> None:
    texts = [
        "SELECT id FROM t0 WHERE account = 5",
        "COPY t0 TO STDOUT",
        "CREATE TABLE x (a int)",
        "VACUUM t0",
    ]
    from idxadvisor.types.workload import Statement

    built = build_workload([Statement(sql=t, source="sql") for t in texts], [])
    patterns, _ = analyse(built)
    assert {p.table for p in patterns} == {"t0"}
    with connect_readonly(many_db.url) as db:
        sel = select(
            [IndexCandidate("t0", (IndexElement("account"),))],
            built.queries,
            WhatIf(db),
            patterns=patterns,
        )
    assert sel.skipped == ()  # COPY/DDL are the patterns' to skip, not listed again here
    assert set(sel.costs) == {p.query_id for p in patterns}


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500MB", 500 * 1024**2),
        ("2GiB", 2 * 1024**3),
        ("1.5 GB", int(1.5 * 1024**3)),
        ("64kB", 64 * 1024),
        ("12345", 12345),
        ("10 bytes", 10),
    ],
)
def test_budget_sizes_parse(text: str, size: int) -> None:
    assert parse_byte_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "-5MB", "5 parsecs", "1e9"])
def test_bad_budget_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_byte_size(text)


def test_an_unused_index_is_rejected_naming_the_query_it_was_proposed_for(
    many_db: TempDatabase,
) -> None:
    # Found on django-silk: "the planner does not use it for q_…" named the table's first
    # query, a primary-key lookup the candidate was never proposed for.
    queries = [
        q("q_a_lookup", "SELECT code FROM t0 WHERE id = 5"),
        q("q_z_every_code", "SELECT * FROM t0 WHERE code >= 0"),  # every row: a scan
    ]
    candidate = IndexCandidate("t0", (IndexElement("code"),), serves=("q_z_every_code",))
    with connect_readonly(many_db.url) as db:
        sel = select([candidate], queries, WhatIf(db), schema=read_schema(db))
    [rejected] = sel.rejected
    assert "does not use it for q_z_every_code" in rejected.reason, rejected.reason
