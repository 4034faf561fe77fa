"""Housekeeping: indexes that cost writes and space but serve nothing.

* unused: ``idx_scan = 0`` since the statistics were last reset (the reset time is shown, since
  a recent reset makes "unused" mean little); indexes behind a constraint (primary key, unique)
  are left out, as they enforce something even when never scanned;
* duplicate: two indexes with the same definition;
* prefix-redundant: a B-tree whose keys are a leading prefix of another B-tree's on the same
  table with the same predicate (``(a)`` next to ``(a, b)``).

A unique index is never reported as redundant to a non-unique one: only an identical unique
index (or the primary key) can stand in for it.

>>> from idxadvisor.schema import ExistingIndex, IndexElement as E, Schema
>>> a = ExistingIndex("t", "t_a", (E("a"),), "catalog")
>>> ab = ExistingIndex("t", "t_a_b", (E("a"), E("b")), "catalog")
>>> [(r.index.name, r.covered_by) for r in duplicate_indexes(Schema({}, (a, ab)))]
[('t_a', 't_a_b')]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from idxadvisor.advisor.candidate import Redundancy
from idxadvisor.live.connection import ReadOnlyDatabase
from idxadvisor.schema import ExistingIndex, Schema


@dataclass(frozen=True, slots=True)
class UnusedIndex:
    table: str
    name: str
    size_bytes: int
    definition: str  # pg_get_indexdef


def unused_indexes(db: ReadOnlyDatabase) -> tuple[tuple[UnusedIndex, ...], datetime | None]:
    """Indexes never scanned since ``pg_stat_database.stats_reset`` (None: never reset, so the
    counts run since the statistics were created), biggest first. Constraint-backed indexes and
    INVALID ones (see :func:`invalid_indexes`) are left out."""
    rows = db.fetchall(
        """
        SELECT s.relname, s.indexrelname, pg_relation_size(s.indexrelid),
               pg_get_indexdef(s.indexrelid)
        FROM pg_stat_user_indexes s
        JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND i.indisvalid
          AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid)
          AND pg_table_is_visible(s.relid)
        ORDER BY pg_relation_size(s.indexrelid) DESC, s.indexrelname
        """,
        what="reading pg_stat_user_indexes",
    )
    reset = db.fetchone(
        "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()",
        what="reading pg_stat_database",
    )
    return (tuple(UnusedIndex(t, n, int(s), d) for t, n, s, d in rows),
            reset[0] if reset else None)


def invalid_indexes(schema: Schema) -> tuple[ExistingIndex, ...]:
    """INVALID indexes (a failed CREATE INDEX CONCURRENTLY): written to, never read."""
    return tuple(i for i in schema.indexes if not i.valid)


def duplicate_indexes(schema: Schema) -> tuple[Redundancy, ...]:
    """Exact duplicates and prefix-redundant B-tree indexes, each reported once."""
    found: list[Redundancy] = []
    reported: set[tuple[str, str]] = set()
    for table in sorted({i.table for i in schema.indexes}):
        indexes = sorted((i for i in schema.indexes_on(table) if i.valid), key=_keep_order)
        for pos, keep in enumerate(indexes):
            for other in indexes[pos + 1:]:
                if (table, other.name) in reported or (table, keep.name) in reported:
                    continue
                if _same(keep, other) and (keep.unique or not other.unique):
                    found.append(Redundancy(other, keep.name,
                                            f"same definition as {keep.name}"))
                    reported.add((table, other.name))
        for small in indexes:
            if small.unique or (table, small.name) in reported:
                continue
            for big in indexes:
                if big is small or (table, big.name) in reported:
                    continue
                if _prefix_of(small, big):
                    keys = ", ".join(small.columns)
                    found.append(Redundancy(
                        small, big.name,
                        f"its keys ({keys}) are a leading prefix of {big.name} "
                        f"({', '.join(big.columns)})"))
                    reported.add((table, small.name))
                    break
    return tuple(found)


def _keep_order(index: ExistingIndex) -> tuple:
    """Which of two identical indexes to keep: primary key, unique, declared in a model, used."""
    return (index.origin != "primary key", not index.unique, not index.declared,
            -(index.scans or 0), index.name)


def _same(a: ExistingIndex, b: ExistingIndex) -> bool:
    return (a.elements, a.condition, a.include, a.method) == (
        b.elements, b.condition, b.include, b.method)


def _prefix_of(small: ExistingIndex, big: ExistingIndex) -> bool:
    if small.method != "btree" or big.method != "btree" or small.condition != big.condition:
        return False
    n = len(small.elements)
    if n >= len(big.elements) or big.elements[:n] != small.elements:
        return False
    # What ``small`` returns without visiting the heap must come out of ``big`` too.
    available = set(big.columns) | set(big.include)
    return set(small.include) <= available
