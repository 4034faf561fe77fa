"""Choose the workload's index set from what-if costs: greedy by benefit per byte (Extend-style).

Each round costs every remaining candidate *together with those already chosen* and takes the
one with the largest weighted saving per byte of estimated size; a candidate whose best saving on
any query is below ``min_benefit_ratio`` is dropped with its reason. Query weights are
:attr:`Query.weight` (total time when measured, else calls).

At production size (thousands of queries over hundreds of tables) the work is kept to what
a choice can change: each phase hands its what-if requests to :meth:`WhatIf.costs` in one
batch; a choice re-costs and re-evaluates only the candidates whose queries it moved (tables
that share no query are independent); and a query whose plan does not use an index is not
costed again to learn what it would cost without it.

>>> # sel = select(candidates, workload.queries, WhatIf(db), schema=schema)
>>> # sel.chosen, [r.reason for r in sel.rejected], sel.costs["q_1a2b3c4d"].cost_after
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from idxadvisor.advisor.cost import human_size
from idxadvisor.advisor.statistics import SMALL_TABLE_ROWS, is_small_table
from idxadvisor.live.whatif import (
    HYPOPG_MISSING,
    CandidateError,
    PlanError,
    PlanEstimate,
    Request,
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
    sizes: dict[tuple, int] = {}
    distinct: list[IndexCandidate] = []
    seen: set[tuple] = set()
    for c in candidates:
        if c.definition() not in seen:
            seen.add(c.definition())
            distinct.append(c)
    small = {
        c.definition(): table
        for c in distinct
        if schema is not None
        and (table := schema.tables.get(c.table)) is not None
        and is_small_table(table)
    }
    whatif.check([c for c in distinct if c.definition() not in small])  # sizes, in one go
    for c in distinct:
        if c.definition() in small:
            table = small[c.definition()]
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
    plan_now: dict[str, PlanEstimate] = {}  # the estimate behind each current cost
    base: dict[str, float] = {}
    plannable: list[Query] = []
    for q, found in zip(queries, whatif.costs([(q.sql, ()) for q in queries]), strict=True):
        if isinstance(found, PlanError):
            skipped.append(Skipped(f"what-if: the planner cannot cost it: {found}", sql=q.sql))
            continue
        base[q.id] = current[q.id] = found.total_cost
        plan_now[q.id] = found
        plannable.append(q)
    reach = _Reach(plannable, whatif)
    by_def = {c.definition(): c for c in pool}
    mine = {d: reach.could_use(c) for d, c in by_def.items()}
    users: dict[str, list[tuple]] = defaultdict(list)  # query id -> candidates costed on it
    for d, theirs in mine.items():
        for q in theirs:
            users[q.id].append(d)

    chosen: list[Chosen] = []
    # Each candidate's estimate per query of its table, with the indexes chosen so far. A new
    # choice re-costs only the queries it improved: for the others neither the current cost
    # nor (but for index combinations, which are rare) the candidate's estimate moves. The
    # first estimates, every candidate alone, go to the planner in one batch.
    estimates: dict[tuple, dict[str, PlanEstimate]] = {d: {} for d in by_def}
    _recost(whatif, [(c, q) for c in pool for q in mine[c.definition()]], _Indexes(), estimates)
    # A candidate's evaluation changes only when a query it could use changes: tables that
    # share no query are independent, so a choice re-evaluates only its own neighbourhood.
    evaluations: dict[tuple, _Evaluation] = {}
    stale: set[tuple] = set(by_def)
    below: dict[tuple, tuple[float, str | None, bool]] = {}  # last evaluation under threshold
    passed_once: set[tuple] = set()
    improved: dict[tuple, set[str]] = {}  # chosen candidate -> queries it made cheaper
    used_bytes = 0
    over_budget: dict[tuple, str] = {}
    while pool and (max_indexes is None or len(chosen) < max_indexes):
        for d in stale & estimates.keys():
            evaluations[d] = _evaluate(by_def[d], mine[d], current, estimates[d])
        stale.clear()
        best: tuple[float, IndexCandidate, _Evaluation] | None = None
        for c in pool:
            d = c.definition()
            evaluation = evaluations[d]
            benefit, best_ratio, best_query = evaluation[:3]
            if best_ratio < min_benefit_ratio:
                below[d] = (best_ratio, best_query, d in passed_once)
                continue
            passed_once.add(d)
            size = sizes[d]
            if max_index_bytes is not None and used_bytes + size > max_index_bytes:
                over_budget[d] = (
                    f"does not fit the index budget: its estimated {human_size(size)} with "
                    f"the {human_size(used_bytes)} already chosen exceed --max-index-bytes "
                    f"{human_size(max_index_bytes)} (it would save {benefit:,.0f} weighted "
                    "cost)"
                )
                continue
            over_budget.pop(d, None)
            per_byte = benefit / max(size, 1)
            if best is None or per_byte > best[0]:
                best = (per_byte, c, evaluation)
        if best is None:
            break
        _, c, (benefit, best_ratio, _, after, reliable, note) = best
        d = c.definition()
        chosen.append(Chosen(c, sizes[d], benefit, best_ratio, reliable, note))
        used_bytes += sizes[d]
        current.update(after)
        plan_now.update({qid: estimates[d][qid] for qid in after})
        improved[d] = set(after)
        pool.remove(c)
        estimates.pop(d, None)
        moved = {q.id: q for q in reach.queries(c.table) if q.id in after}
        chosen_set = _Indexes(ch.candidate for ch in chosen)
        stale |= _recost_users(whatif, moved, users, by_def, chosen_set, estimates)
        # Extend-style: a wider index may make an earlier, narrower choice unnecessary. Only
        # an earlier choice sharing a query the new one improved can have become so.
        for earlier in list(chosen[:-1]):
            if not improved.get(earlier.candidate.definition(), set()) & moved.keys():
                continue
            rest = _Indexes(ch.candidate for ch in chosen if ch is not earlier)
            worst, worst_query = _worst_increase(
                earlier.candidate,
                rest,
                reach.queries(earlier.candidate.table),
                current,
                plan_now,
                whatif,
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
                recosted = whatif.costs([rest.request(query, whatif) for query in back.values()])
                for qid, estimate in zip(back, recosted, strict=True):
                    plan_now[qid] = _known(estimate)
                    current[qid] = plan_now[qid].total_cost
                chosen_set = _Indexes(ch.candidate for ch in chosen)
                # Only the estimates on queries whose cost moved.
                stale |= _recost_users(whatif, back, users, by_def, chosen_set, estimates)

    final = [ch.candidate for ch in chosen]
    every = _Indexes(final)
    final_plans = dict(
        zip(
            (q.id for q in plannable),
            map(_known, whatif.costs([every.request(q, whatif) for q in plannable])),
            strict=True,
        )
    )
    proven = _proxies_worked(
        [
            c
            for c in pool
            if c.definition() not in over_budget and any(e.expression for e in c.elements)
        ],
        reach,
        whatif,
    )
    for c in pool:
        d = c.definition()
        reason = over_budget.get(d)
        if reason is None and d in below:
            ratio, query_id, passed = below[d]
            tables = _tables_near(c, mine[d], whatif)
            around = [x for x in final if x.table in tables] if passed else []
            reason = _below_threshold(ratio, query_id, min_benefit_ratio, around)
        reason = reason or "not needed once the others were chosen"
        if d not in over_budget and any(e.expression for e in c.elements) and d not in proven:
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
    marginals = _marginals(final, reach, current, final_plans, whatif)
    chosen = [replace(ch, benefit=marginals[ch.candidate.definition()]) for ch in chosen]
    costs: dict[str, QueryCost] = {}
    for q in plannable:
        estimate = final_plans[q.id]
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


# benefit, best ratio, its query, the new costs, reliable, note (see _evaluate)
_Evaluation = tuple[float, float, str | None, dict[str, float], bool, str]


def _known(found: PlanEstimate | PlanError) -> PlanEstimate:
    """The estimate; a query planned before that fails with indexes added stops the run, as
    it always has (a timeout, say)."""
    if isinstance(found, PlanError):
        raise found
    return found


def _recost(
    whatif: WhatIf,
    pairs: Sequence[tuple[IndexCandidate, Query]],
    chosen_set: _Indexes,
    estimates: dict[tuple, dict[str, PlanEstimate]],
) -> None:
    """Each (candidate, query) estimate again, with ``chosen_set``, in one batch."""
    found = whatif.costs([chosen_set.request(q, whatif, plus=c) for c, q in pairs])
    for (c, q), estimate in zip(pairs, found, strict=True):
        estimates[c.definition()][q.id] = _known(estimate)


def _recost_users(
    whatif: WhatIf,
    moved: Mapping[str, Query],
    users: Mapping[str, Sequence[tuple]],
    by_def: Mapping[tuple, IndexCandidate],
    chosen_set: _Indexes,
    estimates: dict[tuple, dict[str, PlanEstimate]],
) -> set[tuple]:
    """Re-cost the pool's estimates on the queries whose cost moved; returns the candidates
    whose evaluation is now stale."""
    pairs = [
        (by_def[d], q) for qid, q in moved.items() for d in users.get(qid, ()) if d in estimates
    ]
    _recost(whatif, pairs, chosen_set, estimates)
    return {c.definition() for c, _ in pairs}


def _tables_near(candidate: IndexCandidate, queries: Sequence[Query], whatif: WhatIf) -> set[str]:
    """The candidate's table and those its queries join: where the indexes that changed its
    estimates live."""
    tables = {candidate.table}
    for q in queries:
        tables |= whatif.tables_of(q.sql) or set()
    return tables


class _Indexes:
    """Indexes grouped by table: a what-if request carries only those on its query's tables
    (:class:`WhatIf` leaves the others out anyway; listing a thousand for every request is
    work per index)."""

    def __init__(self, indexes: Iterable[IndexCandidate] = ()) -> None:
        self._all = list(indexes)
        self._by_table: dict[str, list[IndexCandidate]] = defaultdict(list)
        for c in self._all:
            self._by_table[c.table].append(c)

    def request(
        self,
        query: Query,
        whatif: WhatIf,
        *,
        plus: IndexCandidate | None = None,
        minus: IndexCandidate | None = None,
    ) -> Request:
        """``query`` with these indexes on its tables, ``plus`` one more or ``minus`` one."""
        tables = whatif.tables_of(query.sql)
        near = (
            self._all if tables is None else [c for t in tables for c in self._by_table.get(t, ())]
        )
        if minus is not None:
            near = [c for c in near if c is not minus]
        return query.sql, [*near, plus] if plus is not None else near


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
    rest: _Indexes,
    queries: Sequence[Query],
    current: dict[str, float],
    plan_now: Mapping[str, PlanEstimate],
    whatif: WhatIf,
) -> tuple[float, str | None]:
    """The largest relative cost increase of a query on the candidate's table without it.

    Only the queries whose current plan uses the candidate are costed again: the others keep
    their plan without it (a unique index may help a plan by its uniqueness alone, unseen in
    the plan: for one, every query is costed)."""
    on_table = _on_table(candidate, queries, whatif)
    again = [q for q in on_table if _may_use(candidate, plan_now[q.id])]
    found = whatif.costs([rest.request(q, whatif) for q in again])
    without = {q.id: _known(f).total_cost for q, f in zip(again, found, strict=True)}
    worst, worst_query = 0.0, None
    for q in on_table:
        if current[q.id] > 0:
            increase = (without.get(q.id, current[q.id]) - current[q.id]) / current[q.id]
            if increase > worst or worst_query is None:
                worst, worst_query = max(worst, increase), q.id
    return worst, worst_query


def _marginals(
    final: list[IndexCandidate],
    reach: _Reach,
    current: dict[str, float],
    final_plans: Mapping[str, PlanEstimate],
    whatif: WhatIf,
) -> dict[tuple, float]:
    """Each chosen index's weighted saving in the final set: the cost of its table's queries
    without it, less their current cost. As in :func:`_worst_increase`, a query whose final
    plan does not use it keeps that plan without it."""
    saving: dict[tuple, float] = {c.definition(): 0.0 for c in final}
    again: list[tuple[IndexCandidate, Query]] = []
    for candidate in final:
        for q in _on_table(candidate, reach.queries(candidate.table), whatif):
            if _may_use(candidate, final_plans[q.id]):
                again.append((candidate, q))
            else:
                extra = max(0.0, final_plans[q.id].total_cost - current[q.id])
                saving[candidate.definition()] += extra * q.weight
    every = _Indexes(final)
    found = whatif.costs([every.request(q, whatif, minus=x) for x, q in again])
    for (candidate, q), estimate in zip(again, found, strict=True):
        extra = max(0.0, _known(estimate).total_cost - current[q.id])
        saving[candidate.definition()] += extra * q.weight
    return saving


def _may_use(candidate: IndexCandidate, plan: PlanEstimate) -> bool:
    """Whether ``plan`` may get dearer without ``candidate``: it scans it, or could gain from
    it unseen — by uniqueness alone, or through a column proxy, whose cost comes from another
    plan (pitfall 2 of :mod:`idxadvisor.live.whatif`)."""
    return candidate.unique or plan.proxied or candidate in plan.candidates_used


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
    # Unused everywhere, it is said of a query it was proposed for, not of whichever of the
    # table's queries came first.
    own = next((q.id for q in queries if q.id in candidate.serves), None)
    for q in queries:
        estimate = estimates[q.id]
        if candidate not in estimate.candidates_used:
            if best_query is None:
                best_query = own or q.id
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


def _proxies_worked(
    candidates: Sequence[IndexCandidate], reach: _Reach, whatif: WhatIf
) -> set[tuple]:
    """The expression candidates for which some query got a column-proxy estimate."""
    asked = [(c, q) for c in candidates for q in reach.queries(c.table)]
    found = whatif.costs([(q.sql, [c]) for c, q in asked])
    return {
        c.definition()
        for (c, _), f in zip(asked, found, strict=True)
        if isinstance(f, PlanEstimate) and f.proxied
    }
