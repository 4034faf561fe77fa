"""Whether PostgreSQL can build an index key on the column's real type.

Access patterns are read without types: a text cast of a column is the column itself
(Django writes ``"name"::text`` for a LIKE on a varchar), and an expression is kept as the
query wrote it. Here the schema's types decide what PostgreSQL would refuse:

* an index expression must be IMMUTABLE, and some functions are only STABLE for some types:
  ``TO_CHAR``, ``CONCAT``, ``TO_DATE`` always; a cast of a ``timestamptz`` to a date, time or
  timestamp, ``DATE_TRUNC`` or ``EXTRACT`` of one (they depend on the session's TimeZone, unless
  ``AT TIME ZONE 'UTC'`` comes first, as Django writes its ``__date`` lookups) and of a date or
  timestamp to a timestamptz; a cast of a date, timestamp or interval to text (DateStyle,
  IntervalStyle);
* a column of another type compared as text (``"number"::text LIKE '12%'``, ``UPPER("n"::text)``)
  loses its cast in the pattern: ``"number" text_pattern_ops`` or ``UPPER("number")`` is no index
  PostgreSQL builds on an integer.

>>> from idxadvisor.types.schema import Column, IndexElement, Table
>>> t = Table("t", (Column("at", "at", "timestamp with time zone"), Column("n", "n", "integer")))
>>> unbuildable(IndexElement("at", expression="CAST(at AS DATE)"), t).split(":")[0]
"CAST(at AS DATE) depends on the session's TimeZone"
>>> unbuildable(IndexElement("at", expression="CAST(at AT TIME ZONE 'UTC' AS DATE)"), t) is None
True
>>> unbuildable(IndexElement("n", opclass="text_pattern_ops"), t).split(",")[0]
'n is integer'
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from idxadvisor.advisor.serving import PATTERN_OPCLASSES
from idxadvisor.types.schema import IndexElement, Table

__all__ = ["unbuildable"]

# STABLE whatever their arguments (every overload in pg_proc): formatting and parsing by the
# session's settings.
_ALWAYS_STABLE = (exp.TimeToStr, exp.Concat, exp.ConcatWs, exp.StrToDate, exp.StrToTime)
# Of a timestamptz: STABLE (the session's TimeZone decides the day, the hour, the field).
_ZONED = (exp.TimestampTrunc, exp.DateTrunc, exp.Extract)
# Text functions Django applies to a column through a text cast (``__iexact``, ``__icontains``).
_TEXT_FUNCTIONS = (exp.Upper, exp.Lower)


def unbuildable(element: IndexElement, table: Table | None) -> str | None:
    """Why PostgreSQL would refuse ``element`` as an index key on ``table``, or None when it
    can build it (or the columns' types are not known)."""
    if table is None:
        return None
    if element.expression is None:
        column = table.column(element.column or "")
        if column is None or element.opclass not in PATTERN_OPCLASSES or _textual(column.db_type):
            return None
        return (
            f"{column.name} is {column.db_type}, compared as text ({column.name}::text LIKE …): "
            f"{element.opclass} indexes text only, and an index on {column.name} itself does "
            "not serve a comparison of its text"
        )
    try:
        tree = sqlglot.parse_one(element.expression, read="postgres")
    except (ParseError, TokenError):
        return None
    if tree.find(*_ALWAYS_STABLE) is not None:
        return _stable(element.expression, "the session's settings (DateStyle, locale)")
    for col in tree.find_all(exp.Column):
        column = table.column(col.name)
        if column is None:
            continue
        kind = _time_kind(column.db_type)
        at, parent = _enclosing(col)
        if isinstance(parent, exp.AtTimeZone) and parent.this is at:
            # timestamptz AT TIME ZONE 'UTC' is a timestamp, and a timestamp one a timestamptz.
            kind = {"timestamptz": "timestamp", "timestamp": "timestamptz"}.get(kind, kind)
            at, parent = _enclosing(parent)
        if isinstance(parent, _TEXT_FUNCTIONS) and not _textual(column.db_type):
            return (
                f"{column.name} is {column.db_type}, compared as text ({element.expression} of "
                f"its ::text): no index on {column.name} serves that comparison as written"
            )
        if isinstance(parent, exp.Cast):
            target = parent.to.this
            if target in exp.DataType.TEXT_TYPES and kind:
                return _stable(element.expression, "the session's DateStyle or IntervalStyle")
            if (kind == "timestamptz" and target in _CLOCK_TYPES) or (
                kind in ("timestamp", "date") and target is exp.DataType.Type.TIMESTAMPTZ
            ):
                return _stable(element.expression, "the session's TimeZone")
        if kind == "timestamptz" and isinstance(parent, _ZONED):
            return _stable(element.expression, "the session's TimeZone")
    return None


def _enclosing(node: exp.Expr) -> tuple[exp.Expr, exp.Expr | None]:
    """``node`` with the parentheses around it, and what encloses them."""
    at, parent = node, node.parent
    while isinstance(parent, exp.Paren):
        at, parent = parent, parent.parent
    return at, parent


_CLOCK_TYPES = frozenset(
    {
        exp.DataType.Type.DATE,
        exp.DataType.Type.TIME,
        exp.DataType.Type.TIMESTAMP,
        exp.DataType.Type.DATETIME,
    }
)


def _stable(expression: str, on: str) -> str:
    return (
        f"{expression} depends on {on}: PostgreSQL indexes only IMMUTABLE expressions "
        '("functions in index expression must be marked IMMUTABLE"); filter on the column '
        "itself instead (a range such as __gte / __lt, or AT TIME ZONE 'UTC' first)"
    )


def _textual(db_type: str) -> bool:
    t = db_type.lower()
    return t.startswith(("varchar", "character", "char", "text", "citext", "bpchar"))


def _time_kind(db_type: str) -> str:
    t = db_type.lower()
    if t in ("timestamptz", "timestamp with time zone") or t.startswith("timestamptz"):
        return "timestamptz"
    if t.startswith("timestamp"):
        return "timestamp" if "with time zone" not in t else "timestamptz"
    if t == "date":
        return "date"
    if t.startswith("interval"):
        return "interval"
    return ""
