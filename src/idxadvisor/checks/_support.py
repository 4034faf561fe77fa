"""What the checks share: which index serves what, and suggestions as Django source.

>>> normalise_key('UPPER("email"::TEXT)')
'UPPER(email)'
>>> django_expression("UPPER(email::TEXT)", lambda c: c)
'Upper("email")'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

from idxadvisor.advisor.naming import index_name as advisor_index_name
from idxadvisor.advisor.serving import IndexShape, conjuncts, score
from idxadvisor.schema.models import expression_key
from idxadvisor.types.access import AccessPattern, Op, OrderKey, Predicate
from idxadvisor.types.advice import IndexCandidate, Recommendation
from idxadvisor.types.analysis import Analysis
from idxadvisor.types.schema import ExistingIndex, IndexElement, Schema
from idxadvisor.types.workload import Query

_CASE_FOLD = re.compile(r"^\s*(UPPER|LOWER)\s*\(", re.IGNORECASE)
_FOLDED_COLUMN = re.compile(
    r'^\s*(UPPER|LOWER)\s*\(\s*"?([A-Za-z_]\w*)"?\s*(?:::\s*[A-Za-z_][\w ]*)?\)\s*$', re.IGNORECASE
)
TRIGRAM_METHODS = frozenset({"gin", "gist"})


@functools.lru_cache(maxsize=8192)
def normalise_key(key: str) -> str:
    """An index key or predicate expression in a form that compares across sources (the
    schema's canonical form: qualifiers, quotes and casts to text dropped). Cached: it parses
    SQL, and the same few keys come up for every index of a table."""
    return expression_key(key)


def is_case_insensitive(predicate: Predicate) -> bool:
    return bool(predicate.expression and _CASE_FOLD.match(predicate.expression))


class _AdviceIndex:
    """The advice looked up by (query, table), built once per analysis."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.served = {(s.query_id, s.table) for s in analysis.advice.served}
        self.recommendations: dict[tuple[str, str], list[Recommendation]] = {}
        for r in analysis.advice.recommendations:
            for query_id in r.serves:
                self.recommendations.setdefault((query_id, r.table), []).append(r)


_last_index: list[_AdviceIndex] = []


def _advice_index(analysis: Analysis) -> _AdviceIndex:
    if not _last_index or _last_index[0].analysis is not analysis:
        _last_index[:] = [_AdviceIndex(analysis)]
    return _last_index[0]


def served(analysis: Analysis, pattern: AccessPattern) -> bool:
    """Whether the advisor found an existing index that serves this query on this table."""
    return (pattern.query_id, pattern.table) in _advice_index(analysis).served


def recommendations_for(analysis: Analysis, pattern: AccessPattern) -> tuple[Recommendation, ...]:
    """The recommendations that serve this query on this table, in the advisor's order."""
    found = _advice_index(analysis).recommendations.get((pattern.query_id, pattern.table), ())
    return tuple(found)


def suggestion_of(rec: Recommendation) -> str:
    return rec.django or rec.sql


def source_order(
    analysis: Analysis, table: str, columns: list[str], query: Query | None
) -> tuple[str, ...]:
    """Columns (deduplicated) in the order the queryset's code names their fields, so the
    message reads like the code (Django sorts keyword filters when it builds the SQL)."""
    unique = list(dict.fromkeys(columns))
    code = (query.code if query else None) or ""
    field_for = field_namer(analysis, table)

    def position(column: str) -> int:
        names = {column, field_for(column)}
        hits = [
            m.start() for n in names for m in re.finditer(rf"\b{re.escape(n)}(?=__|\s*=)", code)
        ]
        return min(hits, default=len(code) + 1)

    return tuple(sorted(unique, key=lambda c: (position(c), unique.index(c))))


def usable_indexes(schema: Schema, table: str) -> Iterator[ExistingIndex]:
    return (i for i in schema.indexes_on(table) if i.valid)


def equality_keys(pattern: AccessPattern) -> frozenset[str]:
    """Keys pinned to one value, which an index may put before the order or range keys."""
    return frozenset(
        normalise_key(p.key)
        for p in pattern.predicates
        if p.op in (Op.EQ, Op.IS_NULL) or (p.op is Op.IN and len(p.constants) == 1)
    )


def delivers_order(
    elements: tuple[IndexElement, ...], condition: str | None, pattern: AccessPattern,
    method: str = "btree",
) -> bool:
    """Whether a scan of this index returns the pattern's rows in its ORDER BY order (the
    advisor's own yardstick, :func:`idxadvisor.advisor.serving.score`)."""
    if not pattern.order_by or not elements:
        return False
    order_columns = {o.column for o in pattern.order_by}
    if not any(e.expression or e.column in order_columns for e in elements):
        return False  # cheap answer first: scoring parses SQL
    shape = IndexShape(elements, conjuncts(condition), method)
    return score(shape, pattern).ordered


def filter_uses(index: ExistingIndex, pattern: AccessPattern) -> bool:
    """Whether a scan of the index can use the pattern's WHERE conditions (joins and order
    aside): it seeks on them, or its partial condition applies some of them."""
    first = index.elements[0] if index.elements else None
    if first is None or not (
        index.condition or first.expression or any(p.column == first.column
                                                   for p in pattern.predicates)
    ):
        return False  # cheap answer first: scoring parses SQL
    filter_only = replace(pattern, join_columns=(), order_by=())
    return score(IndexShape.of_existing(index), filter_only).useful


def index_leads_with(index: ExistingIndex, pattern: AccessPattern, key: str) -> bool:
    """Whether a scan can seek on ``key``: the index's first key, or one after keys the
    query pins with equality, and the index's partial condition implied by the query."""
    fixed = equality_keys(pattern)
    wanted = normalise_key(key)
    for element in index.elements:
        k = normalise_key(element.key)
        if k == wanted:
            # Usable only when the query implies the index's partial condition.
            return not index.condition or score(IndexShape.of_existing(index), pattern).useful
        if k not in fixed:
            return False
    return False


# --- Suggestions rendered as Django source ----------------------------------------------------


def django_expression(expression: str, field_for: Callable[[str], str]) -> str | None:
    """``UPPER(email::TEXT)`` → ``Upper("email")``; None for anything more complex."""
    match = _FOLDED_COLUMN.match(expression)
    if not match:
        return None
    func = "Upper" if match.group(1).upper() == "UPPER" else "Lower"
    return f'{func}("{field_for(match.group(2))}")'


def index_name(table: str, elements: tuple[IndexElement, ...], method: str = "btree") -> str:
    """The name the advisor would give this index (Django's scheme, at most 30 characters)."""
    return advisor_index_name(IndexCandidate(table, elements, method=method))


def field_namer(analysis: Analysis, table: str) -> Callable[[str], str]:
    t = analysis.schema.tables.get(table)
    return t.field_for if t is not None else (lambda column: column)


def btree_suggestion(analysis: Analysis, table: str, keys: tuple[OrderKey | str, ...]) -> str:
    """``models.Index(fields=[...], name=...)`` for plain columns (``-`` for descending)."""
    field_for = field_namer(analysis, table)
    fields = []
    for key in keys:
        if isinstance(key, OrderKey):
            fields.append(("-" if key.descending else "") + field_for(key.column))
        else:
            fields.append(field_for(key))
    elements = tuple(
        IndexElement(column=k.column, descending=k.descending) if isinstance(k, OrderKey)
        else IndexElement(column=k)
        for k in keys
    )
    name = index_name(table, elements)
    quoted = ", ".join(f'"{f}"' for f in fields)
    return f'models.Index(fields=[{quoted}], name="{name}")'
