"""What the rules share: which kind of index a proposal is, and how the code names columns.

>>> from idxadvisor.types.workload import Query
>>> keyword_order(Query("q", "", "", "static", code='M.objects.filter(b=1, a__in=[2]).get(c=3)'))
('b', 'a', 'in', 'c')
"""

from __future__ import annotations

import ast
import functools

from idxadvisor.advisor import shape
from idxadvisor.advisor.serving import IndexShape, score
from idxadvisor.sql.canonical import canonical
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import Recommendation
from idxadvisor.types.analysis import Analysis
from idxadvisor.types.schema import ExistingIndex
from idxadvisor.types.workload import Query

TRIGRAM_METHODS = frozenset({"gin", "gist"})
_FOLDS = ("UPPER(", "LOWER(")


def is_trigram(rec: Recommendation) -> bool:
    return rec.candidate.method in TRIGRAM_METHODS


def folded_keys(rec: Recommendation) -> tuple[str, ...]:
    """The case-folded expression keys (``UPPER(email)``) of a B-tree recommendation."""
    if is_trigram(rec):
        return ()
    return tuple(k for k in (canonical(e) for e in rec.expressions) if k.startswith(_FOLDS))


def delivers_order(rec: Recommendation, pattern: AccessPattern) -> bool:
    """Whether a scan of the recommended index returns the rows in the ORDER BY order."""
    return bool(pattern.order_by) and score(shape(rec.candidate), pattern).ordered


def filter_index(analysis: Analysis, pattern: AccessPattern) -> ExistingIndex | None:
    """An existing valid index a scan of which can use the pattern's WHERE (order aside)."""
    if not pattern.predicates:
        return None
    where_only = AccessPattern(
        pattern.query_id, pattern.table, pattern.kind, predicates=pattern.predicates
    )
    for index in analysis.schema.indexes_on(pattern.table):
        if (
            index.valid
            and index.method not in TRIGRAM_METHODS
            and score(IndexShape.of_existing(index), where_only).useful
        ):
            return index
    return None


@functools.lru_cache(maxsize=4096)
def keyword_order(query: Query) -> tuple[str, ...]:
    """The lookup names of the queryset's keyword arguments in source order, split at ``__``
    (``status__in`` → ``status``, ``in``: a path names each of its fields, and lookup names
    in it never match a column, so they need no filtering)."""
    try:
        tree = ast.parse((query.code or "").strip(), mode="eval")
    except SyntaxError:
        return ()
    keywords = sorted(
        (k for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg),
        key=lambda k: (k.lineno, k.col_offset),
    )
    return tuple(dict.fromkeys(part for k in keywords for part in (k.arg or "").split("__")))


def filter_columns(analysis: Analysis, query: Query, pattern: AccessPattern) -> tuple[str, ...]:
    """The pattern's filtered columns in the order the code names their fields (Django sorts
    keyword lookups when it compiles them, so the SQL's order is not the author's)."""
    columns = list(dict.fromkeys(p.column for p in pattern.predicates))
    table = analysis.schema.tables.get(pattern.table)
    names = keyword_order(query)

    def position(column: str) -> int:
        fields = {column, table.field_for(column) if table is not None else column}
        return min((names.index(f) for f in fields if f in names), default=len(names))

    return tuple(sorted(columns, key=lambda c: (position(c), columns.index(c))))
