"""The one canonical SQL form for index keys, expressions and predicates.

A query, a model's ``Meta.indexes`` and the catalog (``pg_get_indexdef``) each spell the same
thing differently: ``UPPER("email"::text)`` from a lookup, ``UPPER("email")`` from
``Index(Upper("email"))``, ``upper((email)::text)`` from PostgreSQL; ``NOT ("status" = 'down')``
from ``~Q(status="down")`` and ``((status)::text <> 'down'::text)`` from the catalog. Every stage
compares them through :func:`canonical`, so equal things compare equal everywhere.

>>> canonical('UPPER("monitoring_userprofile"."email"::text)')
'UPPER(email)'
>>> canonical("NOT (\\"status\\" = 'down')") == canonical("((status)::text <> 'down'::text)")
True
>>> canonical("status NOT IN ('b', 'a')") == canonical("NOT (status IN ('a', 'b'))")
True
>>> canonical('"t"."is_active" = TRUE'), canonical("is_active = false")
('is_active', 'NOT is_active')
>>> canonical("b = 2 AND a = 1")
'a = 1 AND b = 2'
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from idxadvisor.errors import UnparsableSQL

__all__ = [
    "canonical",
    "canonical_key",
    "canonical_tree",
    "conjuncts",
    "is_reserved",
    "quote_if_needed",
]

POSTGRES = Dialect.get_or_raise("postgres")

# PostgreSQL's reserved words (and the type/function-name ones): an identifier spelled like one
# must stay quoted.
_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full grant
    group having ilike in initially inner intersect into is isnull join lateral leading left like
    limit localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar some
    symmetric system_user table tablesample then to trailing true union unique user using
    variadic verbose when where window with""".split()  # noqa: SIM905
)
_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]*\Z")
TEXT_TYPES = frozenset(
    {
        exp.DataType.Type.TEXT,
        exp.DataType.Type.VARCHAR,
        exp.DataType.Type.CHAR,
        exp.DataType.Type.NVARCHAR,
        exp.DataType.Type.NCHAR,
    }
)
# Casting these to text changes nothing an index could tell apart (a varchar column, ->>, …).
TEXT_VALUED = (exp.Column, exp.JSONExtractScalar, exp.JSONBExtractScalar, exp.Upper, exp.Lower)
# Comparison → its negation, for ``NOT (a = b)`` → ``a <> b``.
_NEGATED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.EQ: exp.NEQ,
    exp.NEQ: exp.EQ,
    exp.LT: exp.GTE,
    exp.GTE: exp.LT,
    exp.GT: exp.LTE,
    exp.LTE: exp.GT,
}


def is_reserved(name: str) -> bool:
    return name in _RESERVED


def quote_if_needed(name: str) -> str:
    """An identifier as PostgreSQL needs it written.

    >>> quote_if_needed("status"), quote_if_needed("order"), quote_if_needed("Name")
    ('status', '"order"', '"Name"')
    """
    if _PLAIN_IDENTIFIER.match(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


@functools.lru_cache(maxsize=8192)
def canonical(sql: str) -> str:
    """The canonical text of an expression or predicate given as PostgreSQL SQL.

    Raises :class:`~idxadvisor.errors.UnparsableSQL` for text sqlglot cannot read.

    >>> canonical('("monitoring_integrationlog"."context" -> \\'k\\')')
    "context -> 'k'"
    >>> canonical('("t"."created_at" AT TIME ZONE \\'UTC\\')::date')
    "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
    >>> canonical("upper(context ->> 'k'::text)")
    "UPPER(context ->> 'k')"
    >>> canonical('LOWER("Name")')
    'LOWER("Name")'
    >>> canonical("a = 1 AND (b = 2 OR c = 3)")
    'a = 1 AND (b = 2 OR c = 3)'
    >>> canonical("((status)::text = ANY ((ARRAY['b'::character varying, 'a'::character varying])"
    ...           "::text[]))")
    "status IN ('a', 'b')"
    >>> canonical("((status)::text <> ALL ((ARRAY['a'::character varying])::text[]))")
    "status <> 'a'"
    >>> canonical("NOT (x IS NULL)"), canonical("NOT (x IS NOT NULL)"), canonical("x IN (3)")
    ('x IS NOT NULL', 'x IS NULL', 'x = 3')
    """
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except (ParseError, TokenError) as exc:
        raise UnparsableSQL(_first_line(exc)) from exc
    except (RecursionError, ValueError, KeyError, IndexError) as exc:
        raise UnparsableSQL(f"{type(exc).__name__} while reading the expression") from exc
    return canonical_tree(tree)


def canonical_key(sql: str) -> str:
    """:func:`canonical`, or ``sql`` itself when it cannot be read: a key to compare by.

    >>> canonical_key("UPPER((email)::text)"), canonical_key("not sql (")
    ('UPPER(email)', 'not sql (')
    """
    try:
        return canonical(sql)
    except UnparsableSQL:
        return sql


def canonical_tree(tree: exp.Expr) -> str:
    """:func:`canonical` of an already parsed tree (the tree is copied, never changed)."""
    # A holder above the root, so that the root itself can be replaced like any node.
    holder = exp.Tuple(expressions=[_unparen(tree.copy())])
    _fold_text_casts_and_names(holder)
    _fold_array_comparisons(holder)
    _fold_in_lists(holder)
    _fold_booleans_and_negations(holder)
    root = _unparen(holder.expressions[0])
    _drop_needless_parens(holder)
    root = _unparen(holder.expressions[0])
    return POSTGRES.generate(_sort_conjuncts(root))


@functools.lru_cache(maxsize=8192)
def conjuncts(condition: str | None) -> tuple[str, ...]:
    """The AND-ed parts of a predicate, each canonical, sorted: a set to compare WHEREs with.

    >>> conjuncts("b IS NULL AND NOT (a = 'x')")
    ("a <> 'x'", 'b IS NULL')
    """
    if not condition:
        return ()
    try:
        tree = _unparen(sqlglot.parse_one(condition, read="postgres"))
    except (ParseError, TokenError, RecursionError, ValueError):
        return (condition,)
    parts = list(tree.flatten()) if isinstance(tree, exp.And) else [tree]
    return tuple(sorted({canonical_tree(p) for p in parts}))


# -- the folds ---------------------------------------------------------------------------------


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _name(identifier: exp.Identifier) -> str:
    return identifier.this if identifier.quoted else identifier.this.lower()


def _is_text_cast(node: exp.Expr) -> bool:
    return isinstance(node, exp.Cast) and node.to.this in TEXT_TYPES


def _walk_outside_subqueries(root: exp.Expr):
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Query):
            continue  # a sub-query keeps its own qualifiers and casts
        yield node
        stack.extend(node.iter_expressions())


def _fold_text_casts_and_names(holder: exp.Expr) -> None:
    """Qualifiers go, identifiers are quoted only when needed, text casts of text go."""
    for node in list(_walk_outside_subqueries(holder)):
        if isinstance(node, exp.Column):
            for part in ("table", "db", "catalog"):
                if node.args.get(part) is not None:
                    node.set(part, None)
        elif isinstance(node, exp.Identifier):
            name = _name(node)
            node.set("this", name)
            node.set("quoted", not (_PLAIN_IDENTIFIER.match(name) and name not in _RESERVED))
    # Innermost first, so that ``(x::text)::text`` folds whole.
    casts = [n for n in _walk_outside_subqueries(holder) if _is_text_cast(n)]
    for cast in reversed(casts):
        inner = _unparen(cast.this)
        if isinstance(inner, TEXT_VALUED) or (isinstance(inner, exp.Literal) and inner.is_string):
            cast.replace(inner)


def _fold_booleans_and_negations(holder: exp.Expr) -> None:
    """``b = TRUE`` → ``b``; ``b = FALSE`` → ``NOT b``; ``NOT (a = 1)`` → ``a <> 1``;
    ``NOT NOT x`` → ``x``; ``a != 1`` is ``a <> 1`` already in sqlglot's tree."""
    for eq in [n for n in _walk_outside_subqueries(holder) if isinstance(n, exp.EQ | exp.NEQ)]:
        value = _unparen(eq.expression)
        if isinstance(value, exp.Boolean):
            truth = bool(value.this) == isinstance(eq, exp.EQ)
            eq.replace(eq.this if truth else exp.Not(this=eq.this))
    for node in reversed([n for n in _walk_outside_subqueries(holder) if isinstance(n, exp.Not)]):
        inner = _unparen(node.this)
        negated = _NEGATED.get(type(inner))
        if negated is not None:
            node.replace(negated(this=inner.this, expression=inner.expression))
        elif isinstance(inner, exp.Is):  # NOT (x IS [NOT] NULL) → x IS [NOT] NULL, flipped
            flipped = inner.copy()
            flipped.set("negate", not inner.args.get("negate"))
            node.replace(flipped)
        elif isinstance(inner, exp.Not):
            node.replace(_unparen(inner.this))
        elif inner is not node.this:
            node.set("this", inner)


def _array_items(node: exp.Expr) -> list[exp.Expr] | None:
    """The elements of ``ARRAY[…]``, through parentheses and array casts (catalog spelling)."""
    node = _unparen(node)
    while isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.ARRAY:
        node = _unparen(node.this)
    return list(node.expressions) if isinstance(node, exp.Array) else None


def _fold_array_comparisons(holder: exp.Expr) -> None:
    """``x = ANY (ARRAY[a, b])`` → ``x IN (a, b)``; ``x <> ALL (ARRAY[…])`` → ``NOT x IN (…)``:
    how ``pg_get_indexdef`` prints an ``IN`` list."""
    for node in [n for n in _walk_outside_subqueries(holder) if isinstance(n, exp.EQ | exp.NEQ)]:
        right = _unparen(node.expression)
        items: list[exp.Expr] | None = None
        if isinstance(node, exp.EQ) and isinstance(right, exp.Any):
            items = _array_items(right.this)
        elif (
            isinstance(node, exp.NEQ)
            and isinstance(right, exp.Anonymous)
            and str(right.this).upper() == "ALL"
            and len(right.expressions) == 1
        ):
            items = _array_items(right.expressions[0])
        if not items:
            continue
        folded: exp.Expr = exp.In(this=node.this, expressions=items)
        node.replace(folded if isinstance(node, exp.EQ) else exp.Not(this=folded))


def _fold_in_lists(holder: exp.Expr) -> None:
    """``x IN (b, a, a)`` → ``x IN (a, b)``; ``x IN (a)`` → ``x = a``."""
    for node in [n for n in _walk_outside_subqueries(holder) if isinstance(n, exp.In)]:
        values = node.args.get("expressions")
        if not values or node.args.get("query") is not None:
            continue
        unique = {POSTGRES.generate(v): v for v in values}
        ordered = [unique[k] for k in sorted(unique)]
        if len(ordered) == 1:
            node.replace(exp.EQ(this=node.this, expression=ordered[0]))
        else:
            node.set("expressions", ordered)


def _drop_needless_parens(holder: exp.Expr) -> None:
    """Parentheses that change nothing go; those around or under operators stay."""
    operator = (exp.Binary, exp.Not, exp.Unary)
    for node in list(_walk_outside_subqueries(holder)):
        if not isinstance(node, exp.Paren) or node.parent is None:
            continue
        parent, inner = node.parent, node.this
        if (
            isinstance(parent, exp.Func | exp.Cast | exp.Paren | exp.Tuple)
            and not isinstance(parent, operator)
        ) or (
            isinstance(inner, exp.Column | exp.Literal | exp.Func | exp.Paren)
            and not isinstance(inner, operator)
        ):
            node.replace(inner)


def _sort_conjuncts(root: exp.Expr) -> exp.Expr:
    if not isinstance(root, exp.And):
        return root
    parts = sorted(root.flatten(), key=POSTGRES.generate)
    return exp.and_(*parts, copy=False)


def _first_line(exc: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
