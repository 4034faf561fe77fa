"""How well an index serves an access pattern: the one yardstick every rule shares.

An index is scored by what a B-tree scan over it can use: the conditions it can seek on (an
equality prefix, then at most one range), whether its partial ``WHERE`` is implied by the
query and filters rows before the heap is touched, and whether it returns rows already in the
query's ORDER BY order (which saves a sort and, with a LIMIT, lets the scan stop early).

>>> from idxadvisor.types.access import AccessPattern, Op, OrderKey, Predicate
>>> p = AccessPattern("q1", "log", "select",
...     predicates=(Predicate("org", Op.EQ, "org = $1"),),
...     order_by=(OrderKey("created_at", descending=True),), limit=50)
>>> score(IndexShape((IndexElement("org"), IndexElement("created_at", descending=True))), p)
Score(seek=1, filtered=0, ordered=True)
>>> score(IndexShape((IndexElement("org"),)), p)
Score(seek=1, filtered=0, ordered=False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from idxadvisor.advisor.methods import BTREE, method
from idxadvisor.sql.canonical import canonical_key
from idxadvisor.sql.canonical import conjuncts as conjuncts
from idxadvisor.types.access import AccessPattern, Op, OrderKey, Predicate
from idxadvisor.types.schema import ExistingIndex, IndexElement, Table

RANGE_OPS = (Op.RANGE, Op.LIKE_PREFIX, Op.NOT_NULL)
# Operator classes that compare text byte by byte: the only B-tree keys a ``LIKE 'abc%'`` can
# seek on (unless the column's collation is C), and keys that cannot deliver an ORDER BY.
PATTERN_OPCLASSES = frozenset({"varchar_pattern_ops", "text_pattern_ops", "bpchar_pattern_ops"})


@dataclass(frozen=True, slots=True)
class IndexShape:
    """What matters of an index for scoring, whether it exists or is only proposed."""

    elements: tuple[IndexElement, ...]
    condition: tuple[str, ...] = ()  # canonical conjuncts of the partial predicate
    method: str = BTREE

    @classmethod
    def of_existing(cls, index: ExistingIndex) -> IndexShape:
        return cls(index.elements, conjuncts(index.condition), index.method)

    def signature(self) -> tuple:
        """What makes two indexes the same index, however each was described: a B-tree read
        backwards is the same index with every direction flipped, so ``(id DESC)`` is the
        primary key ``(id)``."""
        flip = bool(self.elements) and self.elements[0].descending
        keys = tuple((element_key(e), e.descending != flip, e.opclass) for e in self.elements)
        return keys, self.condition, self.method


@dataclass(frozen=True, slots=True, order=True)
class Score:
    seek: int = 0  # pattern conditions the index seeks on
    filtered: int = 0  # pattern conditions its partial WHERE already applies
    ordered: bool = False  # rows come out in the ORDER BY order

    @property
    def useful(self) -> bool:
        return self.seek > 0 or self.filtered > 0 or self.ordered

    def at_least(self, other: Score, *, order_matters: bool = True) -> bool:
        """As good in every respect: seeking, filtering and (with a LIMIT) order."""
        return self.seek + self.filtered >= other.seek + other.filtered and (
            self.ordered or not other.ordered or not order_matters
        )


def predicate_key(p: Predicate) -> str:
    return canonical_key(p.expression) if p.expression else p.column


def element_key(e: IndexElement) -> str:
    return canonical_key(e.expression) if e.expression else (e.column or "")


def score(index: IndexShape, pattern: AccessPattern) -> Score:
    """How much of ``pattern`` a scan of ``index`` can use (zero when it cannot be used)."""
    kind = method(index.method)
    if not kind.seeks or not index.elements:
        return Score()
    if not all(implied(c, pattern.predicates) for c in index.condition):
        return Score()  # the partial predicate is not implied: PostgreSQL cannot use it
    filtered = len(index.condition)
    keys = [element_key(e) for e in index.elements]
    by_key: dict[str, set[Op]] = {}
    for p in pattern.predicates:
        by_key.setdefault(predicate_key(p), set()).add(p.op)
    if not kind.ordered:
        # BRIN, hash: the first key only, with the operators the method can use.
        return Score(seek=int(bool(by_key.get(keys[0], set()) & kind.seek_ops)), filtered=filtered)

    joins = set(lookup_joins(pattern))
    order = [order_key(o) for o in pattern.order_by]
    seek = i = 0
    # The equality prefix: keys pinned to one value by an equality or a join.
    while i < len(keys) and (by_key.get(keys[i], set()) & {Op.EQ, Op.IS_NULL} or keys[i] in joins):
        seek += 1
        order = [k for k in order if k != keys[i]]  # a pinned key is trivially in order
        i += 1
    remaining = [o for o in pattern.order_by if order_key(o) in order]
    ordered = bool(pattern.order_by) and (
        not remaining or _delivers_order(index.elements[i:], remaining)
    )
    # After the prefix, one more key may be sought on: a range or IN.
    if i < len(keys) and by_key.get(keys[i], set()) & _seekable_after_prefix(index.elements[i]):
        seek += 1
    return Score(seek, filtered, ordered)


def _seekable_after_prefix(element: IndexElement) -> set[Op]:
    """A ``LIKE 'abc%'`` seeks only on a pattern operator class (Django's ``…_like`` index);
    a pattern operator class serves no other range."""
    if element.opclass in PATTERN_OPCLASSES:
        return {Op.LIKE_PREFIX, Op.IN}
    return {Op.RANGE, Op.NOT_NULL, Op.IN}


def unique_lookup(pattern: AccessPattern, indexes: Sequence[ExistingIndex]) -> ExistingIndex | None:
    """A valid unique index whose every key the pattern pins by equality: at most one row
    matches, so nothing can serve the query better (and nothing belongs after its keys).

    >>> from idxadvisor.types.access import AccessPattern, Op, Predicate
    >>> pk = ExistingIndex("t", "t_pkey", (IndexElement("id"),), "primary key", unique=True)
    >>> p = AccessPattern("q1", "t", "select", predicates=(
    ...     Predicate("id", Op.EQ, "id = $1"), Predicate("status", Op.EQ, "status = $2")))
    >>> unique_lookup(p, [pk]).name
    't_pkey'
    """
    # IN too: each listed value is one seek of the unique index, at most one row each.
    pinned = {predicate_key(p) for p in pattern.predicates if p.op in (Op.EQ, Op.IN)}
    for index in indexes:
        if not (
            index.unique and index.valid and index.elements and method(index.method).supports_unique
        ):
            continue
        if index.condition and not all(
            implied(c, pattern.predicates) for c in conjuncts(index.condition)
        ):
            continue
        if {element_key(e) for e in index.elements} <= pinned:
            return index
    return None


def lookup_joins(pattern: AccessPattern) -> tuple[str, ...]:
    """Join columns an index lookup would use: only when the table has no equality filter of
    its own. Otherwise the planner reads this table by that filter first and reaches the other
    table through the other side's index."""
    if any(p.op in (Op.EQ, Op.IN) and not p.is_constant for p in pattern.predicates):
        return ()
    return pattern.join_columns


def order_key(o: OrderKey) -> str:
    return canonical_key(o.expression) if o.expression else o.column


def _delivers_order(elements: tuple[IndexElement, ...], order: list[OrderKey]) -> bool:
    if len(elements) < len(order):
        return False
    flips = set()
    for e, o in zip(elements, order, strict=False):
        if element_key(e) != order_key(o) or e.opclass in PATTERN_OPCLASSES:
            return False
        flips.add(e.descending != o.descending)
    return len(flips) == 1  # a B-tree reads forwards or backwards, not both ways at once


def implied(conjunct: str, predicates: Sequence[Predicate]) -> bool:
    """Whether AND-ed ``predicates`` imply one canonical ``conjunct`` (cheaply: the same
    condition, or ``col IN ('a', 'b')`` implied by ``col = 'a'`` or a narrower IN).

    >>> from idxadvisor.types.access import Op, Predicate
    >>> implied("status IN ('a', 'b')", [Predicate("status", Op.EQ, "status = 'a'",
    ...                                            constants=("'a'",))])
    True
    """
    if any(canonical_key(p.sql) == conjunct for p in predicates):
        return True
    try:
        cond = sqlglot.parse_one(conjunct, read="postgres")
    except (ParseError, TokenError):
        return False
    if not isinstance(cond, exp.In) or not isinstance(cond.this, exp.Column):
        return False
    allowed = {v.sql(dialect="postgres") for v in cond.expressions}
    return any(
        p.column == cond.this.name
        and p.op in (Op.EQ, Op.IN)
        and p.constants
        and set(p.constants) <= allowed
        for p in predicates
    )


# PostgreSQL 18's B-tree skip scan: with few distinct values in the leading column, the index
# is read as that many small scans, one per value, each seeking on the next column.
SKIP_SCAN_VERSION = 180000
SKIP_SCAN_MAX_DISTINCT = 100


def skip_scan(
    pattern: AccessPattern,
    indexes: Sequence[ExistingIndex],
    table: Table | None,
    server_version: int | None,
) -> tuple[ExistingIndex, str] | None:
    """An existing ``(a, b, …)`` that serves a condition on ``b`` alone on PostgreSQL 18+,
    because ``a`` has few distinct values (pg_stats), and why; None before 18 or without
    statistics.

    >>> from idxadvisor.types.access import AccessPattern, Op, Predicate
    >>> from idxadvisor.types.schema import Column, ColumnStats, Table
    >>> t = Table("t", (Column("kind", "kind", "varchar(8)", stats=ColumnStats(n_distinct=3)),
    ...                 Column("at", "at", "timestamptz")), rows=1_000_000)
    >>> ix = ExistingIndex("t", "t_kind_at", (IndexElement("kind"), IndexElement("at")), "db")
    >>> p = AccessPattern("q", "t", "select", predicates=(Predicate("at", Op.RANGE, "at > $1"),))
    >>> skip_scan(p, [ix], t, 180000)[0].name, skip_scan(p, [ix], t, 170000)
    ('t_kind_at', None)
    """
    if server_version is None or server_version < SKIP_SCAN_VERSION or table is None:
        return None
    by_key: dict[str, set[Op]] = {}
    for p in pattern.predicates:
        by_key.setdefault(predicate_key(p), set()).add(p.op)
    for index in indexes:
        if not index.valid or index.method != BTREE or len(index.elements) < 2:
            continue
        if index.condition and not all(
            implied(c, pattern.predicates) for c in conjuncts(index.condition)
        ):
            continue
        lead, second = index.elements[0], index.elements[1]
        if lead.expression or not lead.column or by_key.get(lead.column):
            continue
        if not by_key.get(element_key(second), set()) & {Op.EQ, Op.IN, Op.RANGE}:
            continue
        column = table.column(lead.column)
        stats = column.stats if column is not None else None
        if stats is None or not stats.n_distinct:
            continue
        distinct = (
            stats.n_distinct if stats.n_distinct > 0 else -stats.n_distinct * (table.rows or 0)
        )
        if 0 < distinct <= SKIP_SCAN_MAX_DISTINCT:
            return index, (
                f"PostgreSQL 18 skip scan: {index.name} ({lead.column}, {element_key(second)}, "
                f"…) serves a condition on {element_key(second)} alone, since {lead.column} has "
                f"about {distinct:.0f} distinct values (pg_stats): one small scan per value."
            )
    return None
