"""The advisor: from access patterns and existing indexes to the indexes that pay off.

A short orchestrator over small rules, each a module of :mod:`idxadvisor.advisor.rules` with
one pure function, applied like an optimizer's passes:

1. ``PROPOSERS``, in order, each turn one pattern into an index candidate or None:
   :func:`~idxadvisor.advisor.rules.composite.composite` designs the B-tree (keys, partial
   predicate via :mod:`~idxadvisor.advisor.rules.partial`);
   :func:`~idxadvisor.advisor.rules.trigram.trigram` a GIN beside it for a leading wildcard.
2. ``REFINERS``, in order, each rewrite a candidate for its pattern: a hash index for an
   equality on a text column with no length limit (:mod:`~idxadvisor.advisor.rules.hash`),
   ``INCLUDE`` columns (:mod:`~idxadvisor.advisor.rules.covering`) before BRIN
   (:mod:`~idxadvisor.advisor.rules.brin`), which only takes a candidate left bare.
3. A candidate an existing index already serves as well is reported as served; one on a small
   table is rejected with the reason.
4. Across the workload: :func:`~idxadvisor.advisor.merge.merge` folds candidates together, and
   :func:`~idxadvisor.advisor.redundant.redundant` names existing indexes made unnecessary.

Adding a rule means one module, one line in ``PROPOSERS`` or ``REFINERS``, one test file in
``tests/advisor/``. What each index method can do is one table,
:mod:`~idxadvisor.advisor.methods`.

>>> from idxadvisor.patterns.extractor import extract
>>> from idxadvisor.types.workload import Query
>>> sql = "SELECT * FROM log WHERE org = $1 ORDER BY created_at DESC LIMIT 50"
>>> advice = advise(extract(Query("q1", sql, sql, "sql")), Schema())
>>> [(e.key, e.descending) for e in advice.recommendations[0].candidate.elements]
[('org', False), ('created_at', True)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from idxadvisor.advisor.buildable import unbuildable
from idxadvisor.advisor.cost import cost_note
from idxadvisor.advisor.django_index import recommend
from idxadvisor.advisor.merge import merge, settled_folds
from idxadvisor.advisor.methods import method
from idxadvisor.advisor.redundant import with_redundancy
from idxadvisor.advisor.rules.brin import brin
from idxadvisor.advisor.rules.composite import composite
from idxadvisor.advisor.rules.covering import covering, settled_include
from idxadvisor.advisor.rules.hash import long_text_lookup
from idxadvisor.advisor.rules.partial import settled_condition
from idxadvisor.advisor.rules.trigram import trigram
from idxadvisor.advisor.serving import (
    IndexShape,
    Score,
    conjuncts,
    score,
    skip_scan,
    unique_lookup,
)
from idxadvisor.advisor.statistics import few_values, is_small_table
from idxadvisor.advisor.value import updated_columns, value
from idxadvisor.types.access import AccessPattern, Op
from idxadvisor.types.advice import Advice, IndexCandidate, Recommendation, Rejected, Served
from idxadvisor.types.schema import ExistingIndex, Schema, Table
from idxadvisor.types.workload import Query

Proposer = Callable[[AccessPattern, Table | None], IndexCandidate | None]
Refiner = Callable[[IndexCandidate, AccessPattern, Table | None], IndexCandidate]
PROPOSERS: tuple[Proposer, ...] = (composite, trigram)
REFINERS: tuple[Refiner, ...] = (long_text_lookup, covering, brin)


def without_tie_breaker(pattern: AccessPattern, indexes: Sequence[ExistingIndex]) -> AccessPattern:
    """The pattern with only the ORDER BY keys that can change the order of its rows.

    Keys after a unique key (alone or with the columns the query pins by equality) order
    nothing: each value of that prefix is one row. A trailing unique key after other keys is a
    tie-breaker (Django's admin and ``ordering`` add ``-pk`` to make a sort deterministic): an
    index on the leading keys returns rows in their order and PostgreSQL's incremental sort
    orders the ties as it reads, so the LIMIT still stops the scan early. Neither is an index
    key, and one index serves both sort directions.

    >>> from idxadvisor.types.access import AccessPattern, OrderKey
    >>> from idxadvisor.types.schema import IndexElement
    >>> pk = ExistingIndex("t", "t_pkey", (IndexElement("id"),), "primary key", unique=True)
    >>> code = ExistingIndex("t", "t_code_key", (IndexElement("code"),), "unique", unique=True)
    >>> p = AccessPattern("q", "t", "select", order_by=(OrderKey("date_done", True),
    ...                                                  OrderKey("id", True)), limit=100)
    >>> [o.column for o in without_tie_breaker(p, [pk]).order_by]
    ['date_done']
    >>> p = AccessPattern("q", "t", "select", order_by=(OrderKey("code"),
    ...                                                  OrderKey("date_done", True)), limit=100)
    >>> [o.column for o in without_tie_breaker(p, [pk, code]).order_by]
    ['code']
    """
    order = pattern.order_by
    unique = [
        frozenset(e.column for e in i.elements if e.column)
        for i in indexes
        if i.unique
        and i.valid
        and not i.condition
        and i.elements
        and all(e.column and not e.expression for e in i.elements)
    ]
    if not order or not unique:
        return pattern
    pinned = {p.column for p in pattern.predicates if p.op is Op.EQ and not p.expression}

    def ends_ties(columns: set[str]) -> bool:
        return any(u <= pinned | columns for u in unique)

    plain: set[str] = set()
    for k, o in enumerate(order, start=1):
        if o.expression:
            break
        plain.add(o.column)
        if ends_ties(plain):
            order = order[:k]
            break
    last = order[-1]
    if len(order) >= 2 and not last.expression and ends_ties({last.column}):
        order = order[:-1]
    return pattern if order == pattern.order_by else replace(pattern, order_by=order)


def advise(
    patterns: Sequence[AccessPattern], schema: Schema, *, queries: Mapping[str, Query] | None = None
) -> Advice:
    """Recommendations for the patterns, given what the schema already has; ``queries`` (the
    workload by id) tell where each query runs and how often, for each proposal's value and
    the write cost of columns the workload updates."""
    queries = queries or {}
    updated = updated_columns(patterns, queries, schema.tables)
    saved = updated_columns(patterns, queries, schema.tables, saved=True)
    # Tables the workload updates at all (a whole-row save sets none of ``updated``'s columns).
    changed = {p.table for p in patterns if _changes_rows(p, schema.tables.get(p.table))}
    candidates: list[IndexCandidate] = []
    served: list[Served] = []
    rejected: list[Rejected] = []
    read: dict[tuple[str, str], list[AccessPattern]] = {}  # (query id, table) -> its patterns
    for pattern in patterns:
        table = schema.tables.get(pattern.table)
        indexes = schema.indexes_on(pattern.table)
        pattern = without_tie_breaker(pattern, indexes)
        read.setdefault((pattern.query_id, pattern.table), []).append(pattern)
        unique = unique_lookup(pattern, indexes)
        if unique is not None:
            # At most one row matches: no index serves it better, none belongs after its keys.
            served.append(Served(pattern.query_id, pattern.table, unique.name))
            continue
        skipping = skip_scan(pattern, indexes, table, schema.server_version)
        if skipping is not None:
            served.append(Served(pattern.query_id, pattern.table, skipping[0].name, skipping[1]))
            continue
        for candidate in proposals(pattern, table):
            refused = next(
                (why for e in candidate.elements if (why := unbuildable(e, table)) is not None),
                None,
            )
            if refused is not None:
                rejected.append(Rejected(candidate, refused))
                continue
            existing = _same_as_existing(candidate, indexes)
            if existing is None and method(candidate.method).seeks:
                best = best_existing(pattern, indexes)
                if best is not None and serves_as_well(best, candidate, pattern):
                    existing = best
            if existing is not None:
                served.append(Served(pattern.query_id, pattern.table, existing.name))
            elif _reads_every_value(pattern, candidate):
                rejected.append(
                    Rejected(
                        candidate,
                        "it lists every value of the column (a filter's choices), with no "
                        "filter and no LIMIT: any plan reads the whole table or a whole "
                        "index, and an index would only save the sort",
                    )
                )
            elif table is not None and is_small_table(table):
                size = (
                    f"about {table.rows:,} rows"
                    if table.rows is not None
                    else f"{table.size_bytes or 0:,} bytes"
                )
                rejected.append(
                    Rejected(
                        candidate, f"{table.name} has {size}: too small for an index to matter"
                    )
                )
            else:
                candidates.append(candidate)

    recommendations: list[Recommendation] = []
    for candidate in merge(candidates):
        duplicate = _same_as_existing(candidate, schema.indexes_on(candidate.table))
        if duplicate is not None:
            served.extend(Served(q, candidate.table, duplicate.name) for q in candidate.serves)
            continue
        # A column a whole-row save writes may change: not worth INCLUDE-ing either.
        hot = {*_of_table(updated, candidate.table), *_of_table(saved, candidate.table)}
        candidate = _opening(settled_folds(settled_condition(settled_include(candidate, hot))))
        table = schema.tables.get(candidate.table)
        its_patterns = [p for q in candidate.serves for p in read.get((q, candidate.table), ())]
        already = sought_already(candidate, its_patterns, schema.indexes_on(candidate.table), table)
        recommendations.append(
            recommendation(
                candidate,
                table,
                queries=queries,
                updated=updated,
                saved=saved,
                updates_rows=candidate.table in changed,
                sought_already=already,
            )
        )
    recommendations, redundancies = with_redundancy(
        recommendations, schema.indexes, generated=schema.generated_tables
    )
    return Advice(
        recommendations=tuple(sorted(recommendations, key=lambda r: (r.table, r.name))),
        redundant=tuple(redundancies),
        served=tuple(dict.fromkeys(served)),
        rejected=tuple(rejected),
    )


def _changes_rows(pattern: AccessPattern, table: Table | None) -> bool:
    """Whether the statement changes rows of its table as records are changed: an UPDATE, or a
    DELETE of chosen rows (an unfollow, a reset). Deleting rows past an age (a range on the
    insert timestamp) is how a log is pruned: a log table stays a log."""
    if pattern.kind == "update":
        return True
    if pattern.kind != "delete" or not pattern.predicates:
        return False
    for p in pattern.predicates:
        column = table.column(p.column) if table is not None else None
        if not (p.op is Op.RANGE and column is not None and column.insert_timestamp):
            return True
    return False


def _opening(candidate: IndexCandidate) -> IndexCandidate:
    """The reasons as read: each once, and the first one starts the explanation, not with
    "Then" (with no seek before it, "Then the ORDER BY key at" follows nothing).

    >>> from idxadvisor.types.schema import IndexElement
    >>> c = IndexCandidate("t", (IndexElement("at"),), reasons=("Then the ORDER BY key at.",))
    >>> _opening(c).reasons
    ('The ORDER BY key at.',)
    """
    # Each sentence once: two folds of the same WHERE say the same thing (found on allauth).
    first, *rest = tuple(dict.fromkeys(candidate.reasons)) or ("",)
    if first.startswith("Then "):
        first = first.removeprefix("Then ")
        first = first[:1].upper() + first[1:]
    return replace(candidate, reasons=(first, *rest) if candidate.reasons else ())


def recommendation(
    candidate: IndexCandidate,
    table: Table | None,
    *,
    queries: Mapping[str, Query] | None = None,
    updated: Mapping[tuple[str, str], float] | None = None,
    saved: Mapping[tuple[str, str], float] | None = None,
    updates_rows: bool = False,
    sought_already: str | None = None,
) -> Recommendation:
    """The candidate as a recommendation: its name, SQL, Django form, cost and value
    (``updated`` / ``saved``: see :func:`updated_columns`; ``updates_rows``: the workload
    updates rows of its table, whether or not ``updated`` names a column of it;
    ``sought_already``: why existing indexes already seek on part of it, see
    :func:`sought_already`)."""
    strength, why = value(
        candidate,
        queries or {},
        table,
        table_updated=updates_rows,
        sought_already=sought_already,
    )
    return replace(
        recommend(candidate, table),
        cost=cost_note(
            candidate,
            table,
            _of_table(updated, candidate.table),
            _of_table(saved, candidate.table),
        ),
        strength=strength,
        value=why,
    )


def _of_table(written: Mapping[tuple[str, str], float] | None, table: str) -> dict[str, float]:
    """``written``'s counts of the columns of ``table``, by column."""
    return {c: n for (t, c), n in (written or {}).items() if t == table}


def sought_already(
    candidate: IndexCandidate,
    patterns: Sequence[AccessPattern],
    indexes: Sequence[ExistingIndex],
    table: Table | None = None,
) -> str | None:
    """Why existing indexes already seek by equality on part of every query ``candidate``
    serves, or None.

    ``filter(device=d, token=t)`` beside the foreign-key index on ``device_id``: that index
    finds the device's rows; the new one only narrows the seek to ``token`` too, and saves
    nothing when one device has a few rows. Whether it has thousands is the data's to say, not
    the query's, so such a proposal is only "possible". Not so when the columns sought hold few
    values (a status, a content type: each value has many rows), or when the candidate also
    delivers the order a LIMIT needs, which the existing index does not.
    """
    if not patterns or not method(candidate.method).ordered:
        return None
    seekers: dict[str, tuple[str, ...]] = {}
    for pattern in patterns:
        pinned = {p.column for p in pattern.predicates if p.op is Op.EQ and not p.expression}
        found: tuple[ExistingIndex, tuple[str, ...], Score] | None = None
        for index in indexes:
            if not index.valid or not method(index.method).ordered:
                continue
            have = score(IndexShape.of_existing(index), pattern)  # 0 for an unusable partial
            keys = [e.key for e in index.elements]
            n = next((i for i, k in enumerate(keys) if k not in pinned), len(keys))
            if n and have.seek and (found is None or n > len(found[1])):
                found = (index, tuple(keys[:n]), have)
        if found is None:
            return None
        index, sought, have = found
        if table is not None and all(few_values(table.column(k), table.rows) for k in sought):
            return None
        gives_order = not have.ordered and score(shape(candidate), pattern).ordered
        if pattern.limit is not None and gives_order:
            return None  # it also gives the order the LIMIT needs: more than narrowing
        seekers[index.name] = sought
    sought_keys = tuple(dict.fromkeys(k for keys in seekers.values() for k in keys))
    added = [k for k in candidate.keys if k not in sought_keys]
    if not added:
        return None
    names, columns = ", ".join(seekers), ", ".join(sought_keys)
    return (
        f"{names} already seek{'s' if len(seekers) == 1 else ''} on {columns} = …: this "
        f"index adds {', '.join(added)}, which pays off only where one {columns} has many "
        "rows (with a few each, the existing index is enough)."
    )


def _reads_every_value(pattern: AccessPattern, candidate: IndexCandidate) -> bool:
    """A list of every value of the ORDER BY columns (``SELECT DISTINCT path ORDER BY 1``, the
    admin's list_filter choices), of the whole table or of the rows a constant WHERE keeps.

    A whole-row listing without a LIMIT is not one: Django's admin and ``Paginator`` leave the
    LIMIT out when every row fits on one page, so a workload captured on small data shows the
    paged query of production without it."""
    ordered = {o.column for o in pattern.order_by if not o.expression}
    return (
        all(p.is_constant for p in pattern.predicates)  # nothing to seek on; a WHERE at most
        and not pattern.join_columns
        and pattern.limit is None
        and pattern.selected is not None
        and bool(ordered)
        and set(pattern.selected) <= ordered | {p.column for p in pattern.predicates}
    )


def proposals(pattern: AccessPattern, table: Table | None) -> list[IndexCandidate]:
    """Every proposer's candidate for one pattern, each refined by every refiner."""
    found: list[IndexCandidate] = []
    for propose in PROPOSERS:
        candidate = propose(pattern, table)
        if candidate is None:
            continue
        for refine in REFINERS:
            candidate = refine(candidate, pattern, table)
        found.append(candidate)
    return found


def design(pattern: AccessPattern, table: Table | None) -> IndexCandidate | None:
    """The B-tree one pattern asks for (the first proposer), every refiner applied."""
    candidate = composite(pattern, table)
    if candidate is None:
        return None
    for refine in REFINERS:
        candidate = refine(candidate, pattern, table)
    return candidate


def serves_as_well(
    existing: ExistingIndex, candidate: IndexCandidate, pattern: AccessPattern
) -> bool:
    """Whether ``existing`` makes ``candidate`` unnecessary for ``pattern``.

    As good a seek, filter and (with a LIMIT; without one the whole result is read anyway)
    order. A full index on the candidate's keys also counts, even though a partial one would
    filter more: that is how :mod:`~idxadvisor.advisor.merge` folds them too, and a second
    index on the same keys would cost every write twice.
    """
    have = score(IndexShape.of_existing(existing), pattern)
    want = score(shape(candidate), pattern)
    order_matters = pattern.limit is not None
    if have.at_least(want, order_matters=order_matters):
        return True
    if existing.condition or not candidate.condition or want.seek == 0:
        # With nothing to seek on, a full index is walked from one end and filtered row by
        # row: "processed IS NULL ORDER BY id LIMIT 1" on the primary key reads the whole
        # index when almost every row is processed. Only the partial index serves it.
        return False
    # The same keys: equality keys in any order, then the rest as they are.
    lead = tuple(e.key for e in existing.elements[: len(candidate.elements)])
    k = candidate.equality_prefix
    same_keys = sorted(lead[:k]) == sorted(candidate.keys[:k]) and lead[k:] == candidate.keys[k:]
    unfiltered = Score(want.seek, have.filtered, want.ordered)
    return same_keys and have.at_least(unfiltered, order_matters=order_matters)


def shape(candidate: IndexCandidate) -> IndexShape:
    return IndexShape(candidate.elements, conjuncts(candidate.condition_sql), candidate.method)


def best_existing(pattern: AccessPattern, indexes: Sequence[ExistingIndex]) -> ExistingIndex | None:
    """The valid existing index that serves the pattern best, if any serves it at all."""
    best: tuple[Score, ExistingIndex] | None = None
    for index in indexes:
        if not index.valid:
            continue  # an INVALID index is maintained but never used for reads
        s = score(IndexShape.of_existing(index), pattern)
        if s.useful and (best is None or s > best[0]):
            best = (s, index)
    return best[1] if best else None


def _same_as_existing(
    candidate: IndexCandidate, indexes: Sequence[ExistingIndex]
) -> ExistingIndex | None:
    wanted = shape(candidate).signature()
    for index in indexes:
        if (
            index.valid
            and IndexShape.of_existing(index).signature() == wanted
            and (set(candidate.include) <= set(index.include))
        ):
            return index
    return None


__all__ = [
    "PROPOSERS",
    "REFINERS",
    "advise",
    "best_existing",
    "design",
    "proposals",
    "recommendation",
]
