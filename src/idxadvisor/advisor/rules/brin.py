"""BRIN: a tiny index for range filters on a column whose values follow insertion order.

An append-only timestamp (``auto_now_add``, ``default=timezone.now``, or ``pg_stats``
correlation near 1) lies in the table in nearly sorted order; a BRIN index keeps one min/max
per block range, a few pages for millions of rows, and serves range scans such as a retention
purge well. It cannot return rows in order, so ORDER BY … LIMIT patterns keep a B-tree.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.access import AccessPattern, Op, Predicate
>>> from idxadvisor.types.schema import Column, IndexElement, Table
>>> t = Table("log", (Column("created_at", "created_at", "timestamptz", insert_timestamp=True),))
>>> p = AccessPattern("q1", "log", "delete",
...                   predicates=(Predicate("created_at", Op.RANGE, "created_at < $1"),))
>>> brin(IndexCandidate("log", (IndexElement("created_at"),)), p, t).method
'brin'
"""

from __future__ import annotations

from dataclasses import replace

from idxadvisor.advisor.methods import BRIN, BTREE
from idxadvisor.advisor.statistics import is_append_only_timestamp
from idxadvisor.types.access import AccessPattern, Op
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Table


def brin(candidate: IndexCandidate, pattern: AccessPattern, table: Table | None) -> IndexCandidate:
    """``candidate`` as a BRIN index when its one key is an append-only column only ranged on."""
    if candidate.method != BTREE or table is None or len(candidate.elements) != 1:
        return candidate
    if candidate.condition or candidate.include or pattern.order_by:
        return candidate  # BRIN has no WHERE use, no INCLUDE, no order: only a bare candidate
    element = candidate.elements[0]
    if element.expression or element.column is None:
        return candidate
    ranged = [p for p in pattern.predicates if p.column == element.column and p.op is Op.RANGE]
    if not ranged or len(pattern.predicates) != len(ranged):
        return candidate
    column = table.column(element.column)
    if column is None:
        return candidate
    if column.stats is not None and column.stats.correlation is not None:
        if not is_append_only_timestamp(column):
            return candidate
        why = (
            f"{column.name} follows the table's physical order (pg_stats correlation "
            f"{column.stats.correlation:.2f})"
        )
    elif column.insert_timestamp:
        why = (
            f"{column.name} is set when a row is inserted, so it likely follows the table's "
            "physical order (check pg_stats.correlation with --database-url)"
        )
    else:
        return candidate
    return replace(
        candidate,
        method=BRIN,
        elements=(replace(element, descending=False),),
        reasons=(
            f"A range filter on {column.name} alone, and {why}: a BRIN index keeps one "
            "min/max per block range, a few pages for millions of rows.",
        ),
    )
