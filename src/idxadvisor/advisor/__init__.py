"""The advisor: from access patterns and existing indexes to the indexes that pay off.

A short orchestrator over small rules, each a module with one pure function:

- per pattern: :func:`~idxadvisor.advisor.rules.composite.composite` designs the index (keys,
  partial predicate via :mod:`~idxadvisor.advisor.rules.partial`), then each of ``PATTERN_RULES``
  refines it (``INCLUDE`` columns, BRIN);
- a pattern that an existing index already serves as well is reported as served;
- across the workload: :func:`~idxadvisor.advisor.merge.merge` folds candidates together, and
  :func:`~idxadvisor.advisor.redundant.redundant` names existing indexes made unnecessary.

Adding a rule means adding a module and one line in ``PATTERN_RULES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from idxadvisor.advisor.django_index import recommend
from idxadvisor.advisor.merge import merge
from idxadvisor.advisor.redundant import redundant
from idxadvisor.advisor.rules.brin import brin
from idxadvisor.advisor.rules.composite import composite
from idxadvisor.advisor.rules.covering import covering
from idxadvisor.advisor.rules.trigram import trigram
from idxadvisor.advisor.serving import IndexShape, Score, conjuncts, score, unique_lookup
from idxadvisor.advisor.statistics import is_small_table, selectivity
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import Advice, IndexCandidate, Recommendation, Rejected, Served
from idxadvisor.types.schema import ExistingIndex, Schema, Table

PatternRule = Callable[[IndexCandidate, AccessPattern, Table | None], IndexCandidate]
PATTERN_RULES: tuple[PatternRule, ...] = (covering, brin)
# Rules that propose an index of another kind beside the B-tree design.
ExtraRule = Callable[[AccessPattern, Table | None], IndexCandidate | None]
EXTRA_RULES: tuple[ExtraRule, ...] = (trigram,)


def advise(patterns: Sequence[AccessPattern], schema: Schema) -> Advice:
    """Recommendations for the patterns, given what the schema already has."""
    candidates: list[IndexCandidate] = []
    served: list[Served] = []
    rejected: list[Rejected] = []
    for pattern in patterns:
        table = schema.tables.get(pattern.table)
        unique = unique_lookup(pattern, schema.indexes_on(pattern.table))
        if unique is not None:
            # At most one row matches: no index serves it better, none belongs after its keys.
            served.append(Served(pattern.query_id, pattern.table, unique.name))
            continue
        for rule in EXTRA_RULES:
            extra = rule(pattern, table)
            if extra is None:
                continue
            existing = _same_as_existing(extra, schema.indexes_on(pattern.table))
            if existing is not None:
                served.append(Served(pattern.query_id, pattern.table, existing.name))
            elif table is not None and is_small_table(table):
                rejected.append(Rejected(extra, f"{table.name} is too small for an index to "
                                                "matter"))
            else:
                candidates.append(extra)
        candidate = design(pattern, table)
        if candidate is None:
            continue
        existing = best_existing(pattern, schema.indexes_on(pattern.table))
        if existing is not None and serves_as_well(existing, candidate, pattern):
            served.append(Served(pattern.query_id, pattern.table, existing.name))
            continue
        if table is not None and is_small_table(table):
            size = (f"about {table.rows:,} rows" if table.rows is not None
                    else f"{table.size_bytes or 0:,} bytes")
            rejected.append(Rejected(candidate, f"{table.name} has {size}: too small for an "
                                                "index to matter"))
            continue
        candidates.append(candidate)

    recommendations: list[Recommendation] = []
    for candidate in merge(candidates):
        duplicate = _same_as_existing(candidate, schema.indexes_on(candidate.table))
        if duplicate is not None:
            served.extend(Served(q, candidate.table, duplicate.name) for q in candidate.serves)
            continue
        table = schema.tables.get(candidate.table)
        rec = recommend(candidate, table)
        recommendations.append(replace(rec, cost=cost_note(candidate, table)))
    redundancies = redundant(recommendations, schema.indexes)
    recommendations = [
        replace(r, redundant=tuple(x.index.name for x in redundancies if x.covered_by == r.name))
        for r in recommendations
    ]
    return Advice(
        recommendations=tuple(sorted(recommendations, key=lambda r: (r.table, r.name))),
        redundant=tuple(redundancies),
        served=tuple(dict.fromkeys(served)),
        rejected=tuple(rejected),
    )


def design(pattern: AccessPattern, table: Table | None) -> IndexCandidate | None:
    """The index one pattern asks for, every pattern rule applied."""
    candidate = composite(pattern, table)
    if candidate is None:
        return None
    for rule in PATTERN_RULES:
        candidate = rule(candidate, pattern, table)
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
    return IndexShape(
        candidate.elements, conjuncts(candidate.condition_sql), candidate.method
    )


def best_existing(
    pattern: AccessPattern, indexes: Sequence[ExistingIndex]
) -> ExistingIndex | None:
    """The valid existing index that serves the pattern best, if any serves it at all."""
    best: tuple[object, ExistingIndex] | None = None
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
        if index.valid and IndexShape.of_existing(index).signature() == wanted and (
            set(candidate.include) <= set(index.include)
        ):
            return index
    return None


def cost_note(candidate: IndexCandidate, table: Table | None) -> str:
    """What the index costs, in words; with table statistics, an estimated size."""
    if candidate.method == "brin":
        return "A few pages whatever the table size; negligible cost on writes."
    if candidate.method == "gin":
        return ("A GIN index is large (several entries per row) and slows writes more than a "
                "B-tree; needs the pg_trgm extension (the generated migration creates it).")
    name = table.name if table else candidate.table
    text = f"Every INSERT into {name}, and UPDATEs of its key columns, also write this index."
    if candidate.condition:
        text += " Only rows matching its WHERE are indexed, so it stays small."
    size = estimated_size(candidate, table)
    if size is not None:
        text = f"About {_human(size)} (estimated from row counts). " + text
    return text


def estimated_size(candidate: IndexCandidate, table: Table | None) -> int | None:
    """A rough B-tree size: rows * (key widths + tuple overhead), with leaf-page slack."""
    if table is None or table.rows is None:
        return None
    widths = 0
    for key in (*[e.column for e in candidate.elements], *candidate.include):
        column = table.column(key or "")
        stats = column.stats if column else None
        widths += stats.avg_width if stats and stats.avg_width else 8
    fraction = 1.0
    for p in candidate.condition:
        column = table.column(p.column)
        if column is not None and column.stats is not None:
            fraction *= selectivity(column.stats, p, table.rows)
    rows = max(table.rows, 0) * fraction
    return int(rows * (widths + 16) / 0.9) + 8192


def _human(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


__all__ = ["PATTERN_RULES", "advise", "best_existing", "design"]
