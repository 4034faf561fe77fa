"""Access patterns: what one statement asks of one table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Op(StrEnum):
    EQ = "eq"
    IN = "in"
    RANGE = "range"  # <, <=, >, >=, BETWEEN
    IS_NULL = "is_null"
    NOT_NULL = "not_null"
    # LIKE 'abc%': a B-tree (text_pattern_ops / C collation) can serve it
    LIKE_PREFIX = "like_prefix"
    LIKE_ANY = "like_any"  # LIKE '%abc%': only a trigram index can serve it
    NEQ = "neq"
    JSON = "json"  # ->, ->>, @>, ? on a JSON column
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Predicate:
    """One AND-ed condition on one table.

    ``column`` is the table's column the condition reads; ``expression`` is set when a function or
    cast wraps it (:func:`idxadvisor.sql.canonical.canonical` of the indexable side, e.g.
    ``UPPER(email)``),
    else None. ``constants`` holds the compared values as SQL literals
    when all of them are constants in the statement (``'pending'``, ``TRUE``); empty when any is
    a ``$n`` parameter. ``sql`` is the condition as SQL without table qualifiers, usable in an
    index ``WHERE``.
    """

    column: str
    op: Op
    sql: str
    expression: str | None = None
    constants: tuple[str, ...] = ()

    @property
    def is_constant(self) -> bool:
        return bool(self.constants) or self.op in (Op.IS_NULL, Op.NOT_NULL)

    @property
    def key(self) -> str:
        """What an index would hold: the expression, else the column."""
        return self.expression or self.column


@dataclass(frozen=True, slots=True)
class OrderKey:
    column: str
    descending: bool = False
    nulls_first: bool | None = None  # None: PostgreSQL's default for the direction
    expression: str | None = None

    @property
    def key(self) -> str:
        return self.expression or self.column


# What a statement does to the table: the statement kind, as the table sees it.
AccessKind = Literal["select", "update", "delete", "insert"]


@dataclass(frozen=True, slots=True)
class AccessPattern:
    """What one statement asks of one table.

    ``order_by`` is only filled when every ORDER BY key is on this table (otherwise no index on
    it can return rows in order). ``selected`` lists the columns read from this table, or None
    when all are (``SELECT *``) or they cannot be known. ``assigned`` lists the columns an
    UPDATE of this table sets (empty for any other kind): what its write cost depends on;
    ``computed`` those of them set from an expression over the row (``n = n + 1``, a
    concatenation), which change whatever values the statement is given.
    """

    query_id: str
    table: str
    kind: AccessKind
    predicates: tuple[Predicate, ...] = ()
    join_columns: tuple[str, ...] = ()
    order_by: tuple[OrderKey, ...] = ()
    limit: int | None = None
    selected: tuple[str, ...] | None = None
    assigned: tuple[str, ...] = ()
    computed: tuple[str, ...] = ()
