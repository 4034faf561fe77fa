"""Predicates: one AND-ed condition of a statement → the :class:`Predicate` an index could use.

:func:`classify` reads one conjunct against the statement's :class:`~.scope.Scope`: the indexable
side (:func:`key_of`: a column, or an expression of one table's column in the canonical form of
:mod:`idxadvisor.sql.canonical`), the operator, the constants compared with.

>>> import sqlglot
>>> from idxadvisor.patterns.scope import Ref, Scope
>>> scope = Scope(None, frozenset(), {"t": Ref("t", "select")})
>>> def read(sql):
...     _, p = classify(sqlglot.parse_one(sql, read="postgres"), scope)
...     return p.op.value, p.sql, p.constants
>>> read("UPPER(t.email::text) = UPPER('a@b.c')")
('eq', "UPPER(email) = 'A@B.C'", ("'A@B.C'",))
>>> read("$1 < t.created_at")
('range', 'created_at > $1', ())
>>> read("t.status = 'a' OR t.status IN ('b', 'c')")
('in', "status IN ('a', 'b', 'c')", ("'a'", "'b'", "'c'"))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from idxadvisor.patterns.scope import (
    Ref,
    Scope,
    disjuncts,
    name_of,
    only_table,
    scan,
    unparen,
)
from idxadvisor.sql.canonical import (
    POSTGRES,
    TEXT_TYPES,
    TEXT_VALUED,
    canonical_tree,
    quote_if_needed,
)
from idxadvisor.types.access import Op, Predicate

__all__ = ["Key", "classify", "key_of", "limit_of"]

# One definition of "a text type" and "text-valued" for the normaliser and the predicates.
_TEXT_TYPES = TEXT_TYPES
_TEXT_VALUED = TEXT_VALUED
_JSON_EXTRACTS = (exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract, exp.JSONBExtractScalar)
_JSON_TESTS = (
    exp.ArrayContainsAll,  # @>
    exp.ArrayContainedBy,  # <@
    exp.JSONBContainsTopKey,  # ?
    exp.JSONBContainsAnyTopKeys,  # ?|
    exp.JSONBContainsAllTopKeys,  # ?&
)


def _sql(node: exp.Expr, copy: bool = False) -> str:
    """PostgreSQL text of a node; ``copy`` for nodes of the statement still to be walked (the
    generator may rewrite what it prints)."""
    return POSTGRES.generate(node, copy=copy)


def _is_text_cast(node: exp.Expr) -> bool:
    return isinstance(node, exp.Cast) and node.to.this in _TEXT_TYPES


def strip_column_cast(node: exp.Expr) -> exp.Expr:
    """``("status")::text`` → ``status``: a text cast of a column is the column itself."""
    node = unparen(node)
    if _is_text_cast(node):
        inner = unparen(node.this)
        if isinstance(inner, exp.Column):
            return inner
    return node


def _constant(node: exp.Expr) -> str | None:
    """The SQL literal of a constant value (folded where PostgreSQL would), else None."""
    node = unparen(node)
    if isinstance(node, exp.Literal):
        return _sql(node)
    if isinstance(node, exp.Boolean):
        return "TRUE" if node.this else "FALSE"
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Neg) and isinstance(unparen(node.this), exp.Literal):
        return "-" + _sql(unparen(node.this))
    if isinstance(node, exp.Cast):
        inner = _constant(node.this)
        if inner is None:
            return None
        if node.to.this in _TEXT_TYPES and inner.startswith("'"):
            return inner
        return f"CAST({inner} AS {_sql(node.to)})"
    if isinstance(node, exp.Upper | exp.Lower):
        operand = unparen(node.this)
        if isinstance(operand, exp.Literal) and operand.is_string and operand.this.isascii():
            text = operand.this.upper() if isinstance(node, exp.Upper) else operand.this.lower()
            return _sql(exp.Literal.string(text))
        return None
    if isinstance(node, exp.Interval) and all(
        isinstance(a, exp.Literal | exp.Var) for a in node.iter_expressions()
    ):
        return _sql(node)
    return None


def _string_pattern(node: exp.Expr) -> str | None:
    """The text of a constant LIKE pattern (``'abc%'``, ``UPPER('abc%')``), else None."""
    node = unparen(node)
    if isinstance(node, exp.Cast | exp.Upper | exp.Lower):
        return _string_pattern(node.this)
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    return None


def _like_prefix(pattern: str) -> str:
    """The literal characters before the first unescaped wildcard."""
    prefix = []
    escaped = False
    for ch in pattern:
        if escaped:
            prefix.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "%_":
            break
        else:
            prefix.append(ch)
    return "".join(prefix)


_COMPARISONS: dict[type, str] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}
_FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATED = {"=": "<>", "<>": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


@dataclass(frozen=True, slots=True)
class Key:
    """The indexable side of a condition: one table's column, maybe inside an expression."""

    ref: Ref
    column: str
    expression: str | None
    json: bool

    @property
    def sql(self) -> str:
        if self.expression is None:
            return quote_if_needed(self.column)
        return self.expression if _is_atomic_sql(self.expression) else f"({self.expression})"


_ATOMIC = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\(.*\)\Z|[a-z_][a-z0-9_]*\Z", re.S)


def _is_atomic_sql(sql: str) -> bool:
    return bool(_ATOMIC.match(sql)) and sql.count("(") == sql.count(")")


def key_of(node: exp.Expr, scope: Scope) -> Key | None:
    """The single-table indexable side, or None when it is not one table's column(s)."""
    bare = strip_column_cast(node)
    if isinstance(bare, exp.Tuple):
        return None  # a row comparison: no single key
    if isinstance(bare, exp.Column):
        if isinstance(bare.this, exp.Star):
            return None
        ref = scope.resolve(bare)
        if not isinstance(ref, Ref):
            return None
        return Key(ref, name_of(bare.this), None, False)
    columns, queries = scan(bare)
    if not columns or queries or not _indexable(bare):
        return None
    ref = only_table(columns, scope)
    if ref is None:
        return None
    json = isinstance(bare, _JSON_EXTRACTS) or any(
        isinstance(n, _JSON_EXTRACTS) for n in bare.walk()
    )
    return Key(ref, name_of(columns[0].this), canonical_tree(bare), json)


# An index expression is computed from one row, by IMMUTABLE functions only: an aggregate or
# a window is a value of many rows (PostgreSQL: "aggregate functions are not allowed in index
# expressions"), and these change with the clock, the session or a sequence.
_NOT_ROW_LOCAL = (
    exp.AggFunc,
    exp.Window,
    exp.WithinGroup,
    exp.CurrentTimestamp,
    exp.CurrentDate,
    exp.CurrentTime,
    exp.Localtimestamp,
    exp.Localtime,
    exp.CurrentUser,
    exp.CurrentSchema,
    exp.Rand,
    exp.Uuid,
)
_NOT_IMMUTABLE_NAMES = frozenset(
    {
        "AGE",
        "CLOCK_TIMESTAMP",
        "CURRVAL",
        "LASTVAL",
        "NEXTVAL",
        "STATEMENT_TIMESTAMP",
        "TIMEOFDAY",
        "TRANSACTION_TIMESTAMP",
        "UUID_GENERATE_V1",
        "UUID_GENERATE_V4",
    }
)


def _indexable(node: exp.Expr) -> bool:
    """Whether an index could hold ``node`` as an expression key (see ``_NOT_ROW_LOCAL``).

    >>> import sqlglot
    >>> [_indexable(sqlglot.parse_one(f"SELECT {e}", read="postgres").expressions[0])
    ...  for e in ("UPPER(a)", "MAX(a)", "a - NOW()", "ROW_NUMBER() OVER (ORDER BY a)")]
    [True, False, False, False]
    """
    for n in node.walk():
        if isinstance(n, _NOT_ROW_LOCAL):
            return False
        if isinstance(n, exp.Anonymous) and str(n.this).upper() in _NOT_IMMUTABLE_NAMES:
            return False
    return True


def classify(node: exp.Expr, scope: Scope) -> tuple[Key, Predicate] | None:
    node = unparen(node)
    negated = False
    while isinstance(node, exp.Not):
        negated = not negated
        node = unparen(node.this)
    if isinstance(node, exp.Escape):
        node = node.this

    if isinstance(node, exp.Column | exp.Cast):  # a boolean column alone
        key = _own_key(node, scope)
        if key is None:
            return None
        if key.expression is not None:
            return _other(node, key, negated)
        value = "FALSE" if negated else "TRUE"
        sql = f"NOT {key.sql}" if negated else key.sql
        return key, Predicate(key.column, Op.EQ, sql, None, (value,))

    if type(node) in _COMPARISONS:
        return _comparison(node, scope, negated)
    if isinstance(node, exp.In):
        return _in(node, scope, negated)
    if isinstance(node, exp.Between):
        key = _own_key(node.this, scope)
        if key is None or not _free(node.args["low"], scope) or not _free(node.args["high"], scope):
            return _fallback(node, scope, negated)
        if negated or node.args.get("symmetric"):
            return _other(node, key, negated)
        low, high = node.args["low"], node.args["high"]
        constants = _constants([low, high])
        sql = f"{key.sql} BETWEEN {_value_sql(low)} AND {_value_sql(high)}"
        op = Op.JSON if key.json else Op.RANGE
        return key, Predicate(key.column, op, sql, key.expression, constants)
    if isinstance(node, exp.Is):
        key = _own_key(node.this, scope)
        if key is None:
            return None
        if node.args.get("negate"):
            negated = not negated
            node = node.copy()
            node.set("negate", False)
        target = node.expression
        if isinstance(target, exp.Null):
            op = Op.NOT_NULL if negated else Op.IS_NULL
            sql = f"{key.sql} IS {'NOT ' if negated else ''}NULL"
            return key, Predicate(key.column, op, sql, key.expression)
        if isinstance(target, exp.Boolean) and not negated and key.expression is None:
            # PostgreSQL serves ``b IS TRUE`` from an index like ``b = TRUE``.
            sql = key.sql if target.this else f"NOT {key.sql}"
            return key, Predicate(key.column, Op.EQ, sql, None, (_constant(target) or "",))
        return _other(node, key, negated)
    if isinstance(node, exp.Like | exp.ILike):
        return _like(node, scope, negated)
    if isinstance(node, _JSON_TESTS):
        key = _own_key(node.this, scope)
        if key is None or not _free(node.expression, scope):
            return _fallback(node, scope, negated)
        if negated:
            return _other(node, key, negated)
        constants = _constants([node.expression])
        return key, Predicate(key.column, Op.JSON, canonical_tree(node), key.expression, constants)
    if isinstance(node, exp.Or) and not negated:
        return _or(node, scope)
    return _fallback(node, scope, negated)


def _comparison(node: exp.Expr, scope: Scope, negated: bool) -> tuple[Key, Predicate] | None:
    operator = _COMPARISONS[type(node)]
    left, right = node.this, node.expression
    # An enclosing query's column in a scalar sub-query is a value handed to each run.
    left_key = _own_key(left, scope)
    right_key = _own_key(right, scope)
    if left_key is not None and right_key is not None:
        if (
            operator == "="
            and not negated
            and left_key.ref is not right_key.ref
            and left_key.expression is None
            and right_key.expression is None
        ):
            left_key.ref.joins(left_key.column, right_key.ref)
            right_key.ref.joins(right_key.column, left_key.ref)
        return None
    subquery = unparen(right)
    if (
        left_key is not None
        and operator == "="
        and isinstance(subquery, exp.Any)
        and isinstance(unparen(subquery.this), exp.Query)
    ):  # x = ANY (SELECT …) is x IN (SELECT …)
        inner = subquery.this
        query_sql = _sql(inner, copy=True)
        if not isinstance(inner, exp.Subquery):
            query_sql = f"({query_sql})"
        sql = f"{left_key.sql} = ANY {query_sql}"
        if negated:
            sql = f"NOT ({sql})"
        op = Op.NEQ if negated else Op.IN
        return left_key, Predicate(left_key.column, op, sql, left_key.expression)
    if left_key is not None and _free(right, scope):
        key, value = left_key, right
    elif right_key is not None and _free(left, scope):
        key, value, operator = right_key, left, _FLIPPED[operator]
    else:
        _join_sides(left, right, scope, operator, negated)
        return _fallback(node, scope, negated)
    if negated:
        operator = _NEGATED[operator]
    any_ = unparen(value)
    if isinstance(any_, exp.All) or (
        isinstance(any_, exp.Anonymous) and str(any_.this).upper() == "ALL"
    ):
        return _other(node, key, negated)
    if isinstance(any_, exp.Any):
        if operator != "=":
            return _other(node, key, negated)
        array = unparen(any_.this)
        items = array.expressions if isinstance(array, exp.Array) else None
        constants = _constants(items) if items else ()
        if constants:
            sql = f"{key.sql} IN ({', '.join(constants)})"
        else:
            sql = f"{key.sql} = ANY({canonical_tree(array)})"
        op = Op.JSON if key.json else Op.IN
        return key, Predicate(key.column, op, sql, key.expression, constants)
    constants = _constants([value])
    if operator in ("=", "<>") and key.expression is None and constants in (("TRUE",), ("FALSE",)):
        truth = (constants[0] == "TRUE") == (operator == "=")
        sql = key.sql if truth else f"NOT {key.sql}"
        return key, Predicate(key.column, Op.EQ, sql, None, ("TRUE" if truth else "FALSE",))
    if key.json:
        op = Op.JSON
    elif operator == "=":
        op = Op.EQ
    elif operator == "<>":
        op = Op.NEQ
    else:
        op = Op.RANGE
    sql = f"{key.sql} {operator} {constants[0] if constants else _value_sql(value)}"
    return key, Predicate(key.column, op, sql, key.expression, constants)


def _join_sides(
    left: exp.Expr,
    right: exp.Expr,
    scope: Scope,
    operator: str,
    negated: bool,
) -> None:
    """``a.x = b.y`` where a side is a column of an outer query or a derived table."""
    if operator != "=" or negated:
        return
    for side in (left, right):
        bare = strip_column_cast(side)
        if isinstance(bare, exp.Column):
            ref = scope.resolve(bare)
            if isinstance(ref, Ref) and not scope.given_per_row(ref):
                other = right if side is left else left
                if isinstance(strip_column_cast(other), exp.Column):
                    ref.joins(name_of(bare.this), None)


def _in(node: exp.In, scope: Scope, negated: bool) -> tuple[Key, Predicate] | None:
    key = _own_key(node.this, scope)
    if key is None:
        return _fallback(node, scope, negated)
    query = node.args.get("query")
    values = node.expressions
    if query is None and not all(_free(v, scope) for v in values):
        return _other(node, key, negated)
    if query is not None:
        sql = f"{key.sql} {'NOT ' if negated else ''}IN {_sql(query, copy=True)}"
        op = Op.NEQ if negated else Op.IN
        return key, Predicate(key.column, op, sql, key.expression)
    constants = _constants(values)
    rendered = list(constants) if constants else [_value_sql(v) for v in values]
    if len(rendered) == 1:  # PostgreSQL folds ``x IN (1)`` into ``x = 1``
        operator = "<>" if negated else "="
        op = Op.NEQ if negated else Op.EQ
        sql = f"{key.sql} {operator} {rendered[0]}"
    else:
        op = Op.NEQ if negated else Op.IN
        sql = f"{key.sql} {'NOT ' if negated else ''}IN ({', '.join(rendered)})"
    if key.json:
        op = Op.JSON
    return key, Predicate(key.column, op, sql, key.expression, constants)


def _like(node: exp.Like | exp.ILike, scope: Scope, negated: bool) -> tuple[Key, Predicate] | None:
    key = _own_key(node.this, scope)
    pattern = node.expression
    if key is None or not _free(pattern, scope):
        return _fallback(node, scope, negated)
    if negated != bool(node.args.get("negate")):  # NOT LIKE: no index serves it
        node = node.copy()
        node.set("negate", True)
        return _other(node, key, False)
    text = _string_pattern(pattern)
    if isinstance(node, exp.Like) and text is not None and _like_prefix(text):
        op = Op.LIKE_PREFIX
    else:  # ILIKE, a leading wildcard, or a pattern known only at run time
        op = Op.LIKE_ANY
    if key.json:
        op = Op.JSON
    constants = _constants([pattern])
    word = "LIKE" if isinstance(node, exp.Like) else "ILIKE"
    value = constants[0] if constants else _value_sql(pattern)
    sql = f"{key.sql} {word} {value}"
    return key, Predicate(key.column, op, sql, key.expression, constants)


def _or(node: exp.Or, scope: Scope) -> tuple[Key, Predicate] | None:
    """``a = 1 OR a IN (2, 3)`` → ``a IN (1, 2, 3)``; any other OR is no index predicate."""
    parts = []
    for disjunct in disjuncts(node):
        part = classify(disjunct, scope)
        if part is None or part[1].op not in (Op.EQ, Op.IN):
            return None
        parts.append(part)
    if len({(id(k.ref), k.column, k.expression) for k, _ in parts}) != 1:
        return None
    key = parts[0][0]
    if not all(p.constants for _, p in parts):
        return key, Predicate(key.column, Op.IN, canonical_tree(node), key.expression)
    constants = tuple(dict.fromkeys(c for _, p in parts for c in p.constants))
    if any(c in ("TRUE", "FALSE", "NULL") for c in constants):
        return None
    sql = f"{key.sql} IN ({', '.join(constants)})"
    return key, Predicate(key.column, Op.IN, sql, key.expression, constants)


def _other(node: exp.Expr, key: Key, negated: bool) -> tuple[Key, Predicate]:
    sql = canonical_tree(exp.Not(this=exp.paren(node.copy())) if negated else node)
    return key, Predicate(key.column, Op.OTHER, sql, key.expression)


def _fallback(node: exp.Expr, scope: Scope, negated: bool) -> tuple[Key, Predicate] | None:
    """Any other condition on exactly one table: an OTHER predicate on its first column."""
    columns, queries = scan(node)
    if not columns:
        return None
    ref = only_table(columns, scope)
    if ref is None or queries:
        return None
    key = Key(ref, name_of(columns[0].this), None, False)
    return _other(node, key, negated)


def _free(node: exp.Expr, scope: Scope) -> bool:
    """True when a value reads no column of this query: constants, parameters, functions, and
    the columns of an enclosing query that runs this one per row (given to each run as a
    parameter is: ``SELECT (SELECT … WHERE u.id = t.u_id) FROM t`` looks ``u`` up by id)."""
    columns, queries = scan(node)
    if queries:
        return False
    return all(_given(c, scope) for c in columns)


def _given(column: exp.Column, scope: Scope) -> bool:
    ref = scope.resolve(column)
    return isinstance(ref, Ref) and scope.given_per_row(ref)


def _own_key(node: exp.Expr, scope: Scope) -> Key | None:
    """``key_of``, but not for a value the enclosing query gives a scalar sub-query."""
    key = key_of(node, scope)
    return None if key is None or scope.given_per_row(key.ref) else key


def _constants(values: list[exp.Expr]) -> tuple[str, ...]:
    """The literals of all values when every one is a constant, else ()."""
    out = []
    for v in values:
        c = _constant(v)
        if c is None:
            return ()
        out.append(c)
    return tuple(out)


def _value_sql(node: exp.Expr) -> str:
    if scan(node)[0]:
        # An enclosing query's column, kept qualified: "id = task" would read as this table's.
        return unparen(node).sql(dialect="postgres")
    sql = canonical_tree(node)
    inner = unparen(node)
    if isinstance(inner, exp.Binary) and not isinstance(inner, exp.Dot):
        return f"({sql})"
    return sql


def limit_of(node: exp.Expr) -> int | None:
    limit = node.args.get("limit")
    if limit is None:
        return None
    value = limit.args.get("count") if isinstance(limit, exp.Fetch) else limit.expression
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    return None
