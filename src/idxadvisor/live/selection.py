"""Choose the workload's index set from what-if costs: greedy by benefit per byte (Extend-style).

Each round costs every remaining candidate *together with those already chosen* and takes the
one with the largest weighted saving per byte of estimated size; a candidate whose best saving on
any query is below ``min_benefit_ratio`` is dropped with its reason. Query weights are
:attr:`Query.weight` (total time when measured, else calls).

>>> # sel = select(candidates, workload.queries, WhatIf(db), schema=schema)
>>> # sel.chosen, [r.reason for r in sel.rejected], sel.costs["q_1a2b3c4d"].cost_after
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from idxadvisor.advisor.cost import human_size
from idxadvisor.advisor.statistics import SMALL_TABLE_ROWS, is_small_table
from idxadvisor.live.whatif import (
    HYPOPG_MISSING,
    CandidateError,
    PlanError,
    PlanEstimate,
    WhatIf,
    describe_candidate,
)
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import IndexCandidate, QueryCost, Rejected
from idxadvisor.types.schema import Schema
from idxadvisor.types.workload import Query, Skipped

DEFAULT_MIN_BENEFIT_RATIO = 0.05


@dataclass(frozen=True, slots=True)
class Chosen:
    """A candidate the greedy search kept, with its evidence."""

    candidate: IndexCandidate
    size_bytes: int
    benefit: float  # weighted planner cost saved when it was chosen
    best_ratio: float  # largest relative saving on one query
    reliable: bool = True
    note: str = ""


@dataclass(frozen=True, slots=True)
class Selection:
    chosen: tuple[Chosen, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    costs: Mapping[str, QueryCost] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()  # queries the planner could not cost
    # Expression candidates whose what-if number is unusable: kept out of ``rejected`` because
    # PostgreSQL has no statistics for the expression before the index exists (pitfall 2).
    unverified: tuple[Rejected, ...] = ()
    explains: int = 0  # EXPLAINs actually run (the rest came from the cache)
    note: str = ""  # run-wide remark, e.g. HypoPG missing: nothing was costed

    @property
    def candidates(self) -> tuple[IndexCandidate, ...]:
        return tuple(c.candidate for c in self.chosen)


def select(
    candidates: Sequence[IndexCandidate],
    queries: Sequence[Query],
    whatif: WhatIf,
    *,
    schema: Schema | None = None,
    patterns: Sequence[AccessPattern] | None = None,
    min_benefit_ratio: float = DEFAULT_MIN_BENEFIT_RATIO,
    max_indexes: int | None = None,
    max_index_bytes: int | None = None,
) -> Selection:
    """Greedy what-if selection (see the module docstring). ``schema`` supplies row counts
    so candidates on tables too small to matter are dropped before any planning; with
    ``patterns``, only the queries that have access patterns are costed (the others were
    skipped, with their reason, before). ``max_index_bytes`` caps the estimated size of the
    chosen set: a candidate that does not fit is rejected saying so."""
    if not whatif.available:
        # Said once, by the caller's report; the advisor falls back to its heuristics.
        return Selection(note=HYPOPG_MISSING)
    if patterns is not None:
        analysed = {p.query_id for p in patterns}
        queries = [q for q in queries if q.id in analysed]
    calls_before = whatif.calls
    rejected: list[Rejected] = []
    unverified: list[Rejected] = []
    skipped: list[Skipped] = []
    pool: list[IndexCandidate] = []
    seen: set[tuple] = set()
    sizes: dict[tuple, int] = {}
    for c in candidates:
        if c.definition() in seen:
            continue
        seen.add(c.definition())
        table = schema.tables.get(c.table) if schema else None
        if table is not None and is_small_table(table):
            rejected.append(
                Rejected(
                    c,
                    f"table {c.table} has {table.rows} rows — too small to "
                    f"matter (< {SMALL_TABLE_ROWS:,} rows)",
                )
            )
            continue
        try:
            sizes[c.definition()] = whatif.hypothetical(c).size_bytes
        except CandidateError as exc:
            if "not supported" in str(exc):  # e.g. GIN: HypoPG cannot judge it either way
                unverified.append(
                    Rejected(c, f"no what-if estimate ({exc}): kept on heuristics alone")
                )
            else:
                rejected.append(Rejected(c, f"HypoPG cannot create it: {exc}"))
            continue
        pool.append(c)

    # Base costs: the queries as they plan today.
    current: dict[str, float] = {}
    base: dict[str, float] = {}
    plannable: list[Query] = []
    for q in queries:
        try:
            base[q.id] = current[q.id] = whatif.cost(q.sql, ()).total_cost
            plannable.append(q)
        except PlanError as exc:
            skipped.append(Skipped(f"what-if: the planner cannot cost it: {exc}", sql=q.sql))
    reach = _Reach(plannable, whatif)

    chosen: list[Chosen] = []
    last_reason: dict[tuple, str] = {}
    passed_once: set[tuple] = set()
    # Each candidate's estimate per query of its table, with the indexes chosen so far. A new
    # choice re-costs only the queries it improved: for the others neither the current cost
    # nor (but for index combinations, which are rare) the candidate's estimate moves.
    estimates: dict[tuple, dict[str, PlanEstimate]] = {}
    improved: dict[tuple, set[str]] = {}  # chosen candidate -> queries it made cheaper
    used_bytes = 0
    over_budget: dict[tuple, str] = {}
    while pool and (max_indexes is None or len(chosen) < max_indexes):
        best: tuple[float, IndexCandidate, float, float, dict[str, float], bool, str] | None = None
        chosen_set = [ch.candidate for ch in chosen]
        for c in pool:
            mine = reach.could_use(c)
            if c.definition() not in estimates:
                estimates[c.definition()] = {
                    q.id: whatif.cost(q.sql, [*chosen_set, c]) for q in mine
                }
            benefit, best_ratio, best_query, after, reliable, note = _evaluate(
                c, mine, current, estimates[c.definition()]
            )
            if best_ratio < min_benefit_ratio:
                last_reason[c.definition()] = _below_threshold(
                    best_ratio,
                    best_query,
                    min_benefit_ratio,
                    chosen_set if c.definition() in passed_once else [],
                )
                continue
            passed_once.add(c.definition())
            size = sizes[c.definition()]
            if max_index_bytes is not None and used_bytes + size > max_index_bytes:
                over_budget[c.definition()] = (
                    f"does not fit the index budget: its estimated {human_size(size)} with "
                    f"the {human_size(used_bytes)} already chosen exceed --max-index-bytes "
                    f"{human_size(max_index_bytes)} (it would save {benefit:,.0f} weighted "
                    "cost)"
                )
                continue
            over_budget.pop(c.definition(), None)
            per_byte = benefit / max(size, 1)
            if best is None or per_byte > best[0]:
                best = (per_byte, c, benefit, best_ratio, after, reliable, note)
        if best is None:
            break
        _, c, benefit, best_ratio, after, reliable, note = best
        chosen.append(Chosen(c, sizes[c.definition()], benefit, best_ratio, reliable, note))
        used_bytes += sizes[c.definition()]
        current.update(after)
        improved[c.definition()] = set(after)
        pool.remove(c)
        estimates.pop(c.definition(), None)
        moved = {q.id: q for q in reach.queries(c.table) if q.id in after}
        chosen_set = [ch.candidate for ch in chosen]
        for other in pool:
            theirs = estimates.get(other.definition())
            if theirs is None:
                continue
            for qid in moved.keys() & theirs.keys():
                theirs[qid] = whatif.cost(moved[qid].sql, [*chosen_set, other])
        # Extend-style: a wider index may make an earlier, narrower choice unnecessary. Only
        # an earlier choice sharing a query the new one improved can have become so.
        for earlier in list(chosen[:-1]):
            if not improved.get(earlier.candidate.definition(), set()) & moved.keys():
                continue
            rest = [ch.candidate for ch in chosen if ch is not earlier]
            worst, worst_query = _worst_increase(
                earlier.candidate, rest, reach.queries(earlier.candidate.table), current, whatif
            )
            if worst < min_benefit_ratio:
                chosen.remove(earlier)
                used_bytes -= earlier.size_bytes
                rejected.append(
                    Rejected(
                        earlier.candidate,
                        (
                            f"superseded by {describe_candidate(c)}: without it "
                            f"{worst_query or 'no query'} costs {worst:.1%} more, below the "
                            f"{min_benefit_ratio:.0%} threshold"
                        ),
                    )
                )
                back = {q.id: q for q in reach.queries(earlier.candidate.table)}
                for query in back.values():
                    current[query.id] = whatif.cost(query.sql, rest).total_cost
                chosen_set = [ch.candidate for ch in chosen]
                for other in pool:  # only the estimates on queries whose cost moved
                    theirs = estimates.get(other.definition())
                    if theirs is None:
                        continue
                    for qid in back.keys() & theirs.keys():
                        theirs[qid] = whatif.cost(back[qid].sql, [*chosen_set, other])

    for c in pool:
        reason = over_budget.get(c.definition()) or last_reason.get(
            c.definition(), "not needed once the others were chosen"
        )
        if (
            c.definition() not in over_budget
            and any(e.expression for e in c.elements)
            and not _proxy_worked(c, reach.queries(c.table), whatif)
        ):
            unverified.append(
                Rejected(
                    c,
                    reason + "; the what-if number is unreliable for an "
                    "expression index (no statistics before it is built)",
                )
            )
        else:
            rejected.append(Rejected(c, reason))

    # Each chosen index's benefit is its marginal one in the final set: the weighted cost
    # without it minus the weighted cost with everything.
    final = [ch.candidate for ch in chosen]
    chosen = [
        replace(
            ch,
            benefit=_marginal(
                ch.candidate, final, reach.queries(ch.candidate.table), current, whatif
            ),
        )
        for ch in chosen
    ]
    costs: dict[str, QueryCost] = {}
    for q in plannable:
        estimate = whatif.cost(q.sql, final)
        costs[q.id] = QueryCost(
            query_id=q.id,
            cost_before=base[q.id],
            cost_after=estimate.total_cost,
            index_used=estimate.indexes_used[0] if estimate.indexes_used else None,
            reliable=estimate.reliable,
            note=estimate.note,
        )
    return Selection(
        tuple(chosen),
        tuple(rejected),
        costs,
        tuple(skipped),
        tuple(unverified),
        whatif.calls - calls_before,
    )


class _Reach:
    """Which queries read a table (a query whose tables sqlglot cannot tell reads every
    table)."""

    def __init__(self, queries: Sequence[Query], whatif: WhatIf) -> None:
        self._everywhere: list[Query] = []
        self._by_table: dict[str, list[Query]] = defaultdict(list)
        for q in queries:
            tables = whatif.tables_of(q.sql)
            if tables is None:
                self._everywhere.append(q)
                continue
            for t in tables:
                self._by_table[t].append(q)

    def could_use(self, candidate: IndexCandidate) -> list[Query]:
        """The queries of the candidate's table that name its leading column (or, for an
        expression, a column of it): a B-tree is only searched on its leading key, so a query
        that never mentions it cannot use the index, and costing it would be a wasted EXPLAIN."""
        first = candidate.elements[0] if candidate.elements else None
        if first is None or candidate.method != "btree":
            return self.queries(candidate.table)
        names = (
            [first.column]
            if first.column
            else re.findall(r"[A-Za-z_][\w$]*", first.expression or "")
        )
        words = [re.compile(rf"\b{re.escape(n)}\b", re.I) for n in names if n]
        return [
            q
            for q in self.queries(candidate.table)
            if q.id in candidate.serves or any(w.search(q.sql) for w in words)
        ]

    def queries(self, table: str) -> list[Query]:
        if not self._everywhere:
            return self._by_table.get(table, [])
        found = {id(q): q for q in (*self._by_table.get(table, ()), *self._everywhere)}
        return list(found.values())


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b|bytes)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "bytes": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_byte_size(text: str) -> int:
    """A size as people write it: ``500MB``, ``2GiB``, ``1.5 GB``, ``1000000``.

    Units are PostgreSQL's (``kB``/``MB``/``GB``/``TB`` are powers of 1024, as in
    ``postgresql.conf`` and ``pg_size_pretty``); ``KiB``/``MiB``/``GiB`` mean the same.

    >>> parse_byte_size("500MB"), parse_byte_size("2GiB"), parse_byte_size("4096")
    (524288000, 2147483648, 4096)
    >>> parse_byte_size("lots")
    Traceback (most recent call last):
    ...
    ValueError: not a size: 'lots' (write it like 500MB, 2GiB or 1000000)
    """
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (write it like 500MB, 2GiB or 1000000)")
    unit = (m.group(2) or "").lower()
    factor = _UNITS[unit] if unit in _UNITS else _UNITS[unit[0]]
    return int(float(m.group(1)) * factor)


def _worst_increase(
    candidate: IndexCandidate,
    rest: list[IndexCandidate],
    queries: Sequence[Query],
    current: dict[str, float],
    whatif: WhatIf,
) -> tuple[float, str | None]:
    """The largest relative cost increase of a query on the candidate's table without it."""
    worst, worst_query = 0.0, None
    for q in _on_table(candidate, queries, whatif):
        without = whatif.cost(q.sql, rest).total_cost
        if current[q.id] > 0:
            increase = (without - current[q.id]) / current[q.id]
            if increase > worst or worst_query is None:
                worst, worst_query = max(worst, increase), q.id
    return worst, worst_query


def _marginal(
    candidate: IndexCandidate,
    final: list[IndexCandidate],
    queries: Sequence[Query],
    current: dict[str, float],
    whatif: WhatIf,
) -> float:
    rest = [c for c in final if c is not candidate]
    return sum(
        max(0.0, whatif.cost(q.sql, rest).total_cost - current[q.id]) * q.weight
        for q in _on_table(candidate, queries, whatif)
    )


def _on_table(candidate: IndexCandidate, queries: Sequence[Query], whatif: WhatIf) -> list[Query]:
    return [q for q in queries if (t := whatif.tables_of(q.sql)) is None or candidate.table in t]


def _evaluate(
    candidate: IndexCandidate,
    queries: Sequence[Query],
    current: dict[str, float],
    estimates: Mapping[str, PlanEstimate],
) -> tuple[float, float, str | None, dict[str, float], bool, str]:
    """Weighted saving, best relative saving (and on which query), new costs, reliability —
    from the candidate's estimates on the queries of its table."""
    benefit = 0.0
    best_ratio = 0.0
    best_query: str | None = None
    after: dict[str, float] = {}
    reliable = True
    notes: list[str] = []
    for q in queries:
        estimate = estimates[q.id]
        if candidate not in estimate.candidates_used:
            if best_query is None:
                best_query = q.id
            continue
        saving = current[q.id] - estimate.total_cost
        ratio = saving / current[q.id] if current[q.id] > 0 else 0.0
        if ratio > best_ratio or best_query is None:
            best_query = q.id if ratio >= best_ratio else best_query
            best_ratio = max(ratio, best_ratio)
        if saving > 0:
            benefit += saving * q.weight
            after[q.id] = estimate.total_cost
        if not estimate.reliable:
            reliable = False
            if estimate.note and estimate.note not in notes:
                notes.append(estimate.note)
    return benefit, best_ratio, best_query, after, reliable, "; ".join(notes)


def _below_threshold(
    ratio: float, query_id: str | None, threshold: float, chosen: list[IndexCandidate]
) -> str:
    if query_id is None:
        return "no query of the workload reads this table"
    after = ""
    if len(chosen) == 1:
        after = f" once {describe_candidate(chosen[0])} is chosen"
    elif chosen:
        after = f" once the {len(chosen)} indexes chosen before it exist"
    if ratio <= 0:
        return (
            f"the planner does not use it for {query_id}{after} (saves 0% of its cost, "
            f"below the {threshold:.0%} threshold)"
        )
    return (
        f"saves {ratio:.1%} of the cost of {query_id}{after} — below the {threshold:.0%} threshold"
    )


def _proxy_worked(candidate: IndexCandidate, queries: Sequence[Query], whatif: WhatIf) -> bool:
    """Whether some query got a column-proxy estimate for this expression candidate."""
    for q in queries:
        try:
            est = whatif.cost(q.sql, [candidate])
        except PlanError:
            continue
        if est.proxied:
            return True
    return False
