"""Access patterns: what each statement asks of each table, read with sqlglot.

>>> from idxadvisor.types.workload import Query
>>> q = Query(id="q1", sql="SELECT id FROM hook WHERE status IN ('pending', 'failed') "
...           "AND next_retry_at <= $1 ORDER BY next_retry_at LIMIT 100",
...           fingerprint="", source="sql")
>>> [p] = extract(q)
>>> [(pr.column, pr.op.value, pr.constants) for pr in p.predicates]
[('status', 'in', ("'pending'", "'failed'")), ('next_retry_at', 'range', ())]
>>> [(k.column, k.descending) for k in p.order_by], p.limit
([('next_retry_at', False)], 100)

How statements are read (each statement is parsed once, each clause walked once):

* One pattern per table *reference*: a table joined twice (Django's ``T4`` aliases) gives two
  patterns; sub-queries (``WHERE id IN (SELECT …)``, ``EXISTS``), derived tables and CTE bodies
  give patterns of their own tables under the same query id. UPDATE/DELETE targets get kind
  ``update``/``delete`` (tables of ``FROM``/``USING``/sub-queries stay ``select``); an INSERT
  target gets kind ``insert`` with no predicates (``selected`` is its RETURNING columns).
* Names are PostgreSQL's: unquoted identifiers fold to lower case, quoted ones keep their case;
  a schema qualifier is dropped (``public.t`` → ``t``).
* Index predicates come only from top-level AND-ed conjuncts of WHERE and, for the joined
  table only, of its JOIN ON (a LEFT JOIN's ON does not filter the other side). An OR of
  equalities/INs on one key becomes IN; any other OR is no index predicate (its columns still
  count as read). ``NOT`` inverts comparisons (``NOT (a = 1)`` → ``a <> 1``, NEQ); other
  negations are OTHER.
* A text cast of a column (``"name"::text`` as Django writes for LIKE lookups) is the column
  itself; any other function or cast makes an expression predicate (see
  :func:`normalise_expression`). JSON operators (``->``, ``->>``, ``#>``, ``@>``, ``?``…) give
  JSON predicates; row comparisons and multi-table conditions are not index predicates.
* A LIKE pattern known only at run time counts as LIKE_ANY; ILIKE always does.
* ``Predicate.sql`` is folded where PostgreSQL would fold it: ``x IN (1)`` → ``x = 1``,
  ``b = TRUE`` → ``b``, ``UPPER('abc')`` → ``'ABC'``, column moved to the left (``$1 < c`` →
  ``c > $1``). Parameters stay as written (``$1`` or ``%s``).
* ``order_by`` is resolved through select aliases and ordinals (``ORDER BY 1``); NULLS FIRST/LAST
  is kept only when it differs from PostgreSQL's default for the direction. ``limit`` is a
  literal LIMIT/FETCH FIRST count (``LIMIT $1`` → None), given to every table of that SELECT.
* ``selected`` is None after ``*``/``t.*``, or when an unqualified column cannot be attributed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from idxadvisor.errors import UnparsableSQL
from idxadvisor.types.access import AccessPattern, Op, OrderKey, Predicate
from idxadvisor.types.workload import Query, Skipped, Workload
from idxadvisor.workload import too_deep, too_deep_reason

# --------------------------------------------------------------------------------------------
# Normalised SQL

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
_TEXT_TYPES = frozenset(
    {
        exp.DataType.Type.TEXT,
        exp.DataType.Type.VARCHAR,
        exp.DataType.Type.CHAR,
        exp.DataType.Type.NVARCHAR,
        exp.DataType.Type.NCHAR,
    }
)
# Casting these to text changes nothing an index could tell apart (a varchar column, ->>, …).
_TEXT_VALUED = (exp.Column, exp.JSONExtractScalar, exp.JSONBExtractScalar, exp.Upper, exp.Lower)
_JSON_EXTRACTS = (exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract, exp.JSONBExtractScalar)
_JSON_TESTS = (
    exp.ArrayContainsAll,  # @>
    exp.ArrayContainedBy,  # <@
    exp.JSONBContainsTopKey,  # ?
    exp.JSONBContainsAnyTopKeys,  # ?|
    exp.JSONBContainsAllTopKeys,  # ?&
)


def _name(identifier: exp.Expression | None) -> str:
    """An identifier as PostgreSQL resolves it: unquoted names fold to lower case."""
    if identifier is None:
        return ""
    if isinstance(identifier, exp.Identifier):
        return identifier.this if identifier.quoted else identifier.this.lower()
    return identifier.name.lower()


def _is_text_cast(node: exp.Expression) -> bool:
    return isinstance(node, exp.Cast) and node.to.this in _TEXT_TYPES


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _strip_column_cast(node: exp.Expression) -> exp.Expression:
    """``("status")::text`` → ``status``: a text cast of a column is the column itself."""
    node = _unparen(node)
    if _is_text_cast(node):
        inner = _unparen(node.this)
        if isinstance(inner, exp.Column):
            return inner
    return node


def _normalise_tree(tree: exp.Expression) -> exp.Expression:
    """Rewrite a copied tree in place into the canonical form (see normalise_expression)."""
    tree = _unparen(tree)
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Query):
            continue  # a sub-query keeps its own qualifiers
        if isinstance(node, exp.Column):
            for part in ("table", "db", "catalog"):
                if node.args.get(part) is not None:
                    node.set(part, None)
        elif isinstance(node, exp.Identifier):
            name = _name(node)
            node.set("this", name)
            node.set("quoted", not (_PLAIN_IDENTIFIER.match(name) and name not in _RESERVED))
            continue
        elif _is_text_cast(node):
            inner = _unparen(node.this)
            if isinstance(inner, _TEXT_VALUED) or (
                isinstance(inner, exp.Literal) and inner.is_string
            ):
                parent = node.parent
                if node is tree:
                    tree = inner
                elif not isinstance(inner, exp.Column | exp.Func) or isinstance(parent, exp.Binary):
                    inner = exp.paren(inner, copy=False)
                node.replace(inner)
                stack.append(inner)
                continue
        elif isinstance(node, exp.Paren):
            parent = node.parent
            inner = node.this
            # Operators (AND, OR, =, +, NOT) are Func nodes in sqlglot too, and the parentheses
            # around or under them carry meaning: "a AND (b OR c)".
            operator = (exp.Binary, exp.Not, exp.Unary)
            if (
                isinstance(parent, exp.Func | exp.Cast | exp.Paren)
                and not isinstance(parent, operator)
            ) or (
                isinstance(inner, exp.Column | exp.Literal | exp.Func | exp.Paren)
                and not isinstance(inner, operator)
            ):
                node.replace(inner)
                stack.append(inner)
                continue
        stack.extend(node.iter_expressions())
    return tree


_POSTGRES = Dialect.get_or_raise("postgres")


def _sql(node: exp.Expression, copy: bool = False) -> str:
    """PostgreSQL text of a node; ``copy`` for nodes of the statement still to be walked (the
    generator may rewrite what it prints)."""
    return _POSTGRES.generate(node, copy=copy)


def normalise_expression(sql_or_expr: str | exp.Expression) -> str:
    """The canonical SQL of an indexed expression, the same from a query, a model or the catalog.

    Table qualifiers go, identifiers are unquoted unless they need quotes, text casts of a column
    or a string literal go (``UPPER("email"::text)`` from a lookup, ``UPPER("email")`` from a
    Django ``Index(Upper("email"))`` and ``upper((email)::text)`` from ``pg_get_indexdef`` are
    one index key), parentheses that change nothing go; the rest is sqlglot's PostgreSQL
    printing (other casts print as ``CAST(x AS DATE)``).

    >>> normalise_expression('UPPER("monitoring_userprofile"."email"::text)')
    'UPPER(email)'
    >>> normalise_expression('upper((email)::text)')
    'UPPER(email)'
    >>> normalise_expression('("monitoring_integrationlog"."context" -> \\'k\\')')
    "context -> 'k'"
    >>> normalise_expression("(context -> 'k'::text)")
    "context -> 'k'"
    >>> normalise_expression('("t"."created_at" AT TIME ZONE \\'UTC\\')::date')
    "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
    >>> normalise_expression("UPPER((t.context ->> 'k')::text)")
    "UPPER(context ->> 'k')"
    >>> normalise_expression("upper(context ->> 'k'::text)")
    "UPPER(context ->> 'k')"
    >>> normalise_expression('LOWER("Name")')
    'LOWER("Name")'
    >>> normalise_expression("a = 1 AND (b = 2 OR c = 3)")
    'a = 1 AND (b = 2 OR c = 3)'
    """
    if isinstance(sql_or_expr, str):
        deep = too_deep(sql_or_expr)
        if deep is not None:
            raise UnparsableSQL(deep)
        try:
            tree = sqlglot.parse_one(sql_or_expr, read="postgres")
        except RecursionError as exc:
            raise UnparsableSQL(too_deep_reason("parsing")) from exc
        except Exception as exc:  # sqlglot raises more than ParseError on odd input
            raise UnparsableSQL(_first_line(exc)) from exc
    else:
        tree = sql_or_expr.copy()
    return _sql(_normalise_tree(tree))


def _first_line(exc: Exception) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _constant(node: exp.Expression) -> str | None:
    """The SQL literal of a constant value (folded where PostgreSQL would), else None."""
    node = _unparen(node)
    if isinstance(node, exp.Literal):
        return _sql(node)
    if isinstance(node, exp.Boolean):
        return "TRUE" if node.this else "FALSE"
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Neg) and isinstance(_unparen(node.this), exp.Literal):
        return "-" + _sql(_unparen(node.this))
    if isinstance(node, exp.Cast):
        inner = _constant(node.this)
        if inner is None:
            return None
        if node.to.this in _TEXT_TYPES and inner.startswith("'"):
            return inner
        return f"CAST({inner} AS {_sql(node.to)})"
    if isinstance(node, exp.Upper | exp.Lower):
        inner = _unparen(node.this)
        if isinstance(inner, exp.Literal) and inner.is_string and inner.this.isascii():
            text = inner.this.upper() if isinstance(node, exp.Upper) else inner.this.lower()
            return _sql(exp.Literal.string(text))
        return None
    if isinstance(node, exp.Interval) and all(
        isinstance(a, exp.Literal | exp.Var) for a in node.iter_expressions()
    ):
        return _sql(node)
    return None


def _string_pattern(node: exp.Expression) -> str | None:
    """The text of a constant LIKE pattern (``'abc%'``, ``UPPER('abc%')``), else None."""
    node = _unparen(node)
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


# --------------------------------------------------------------------------------------------
# Scopes: which table each column belongs to

_AMBIGUOUS = object()


@dataclass(eq=False, slots=True)
class _Ref:
    """One base-table reference of the statement, collecting what the statement asks of it."""

    table: str
    kind: str
    predicates: dict[Predicate, None] = field(default_factory=dict)
    join_columns: dict[str, None] = field(default_factory=dict)
    order_by: tuple[OrderKey, ...] = ()
    limit: int | None = None
    selected: dict[str, None] | None = field(default_factory=dict)

    def read(self, column: str) -> None:
        if self.selected is not None:
            self.selected[column] = None

    def pattern(self, query_id: str) -> AccessPattern:
        return AccessPattern(
            query_id=query_id,
            table=self.table,
            kind=self.kind,  # type: ignore[arg-type]
            predicates=tuple(self.predicates),
            join_columns=tuple(self.join_columns),
            order_by=self.order_by,
            limit=self.limit,
            selected=None if self.selected is None else tuple(self.selected),
        )


@dataclass(eq=False, slots=True)
class _Scope:
    parent: _Scope | None
    ctes: frozenset[str]
    sources: dict[str, _Ref | None] = field(default_factory=dict)  # None: derived/opaque
    aliases: dict[str, exp.Expression] = field(default_factory=dict)  # select-list aliases

    def refs(self) -> list[_Ref]:
        return [r for r in self.sources.values() if r is not None]

    def resolve(self, column: exp.Column) -> _Ref | object | None:
        """The reference a column belongs to; None when it is not a base table's (or unknown),
        _AMBIGUOUS when unqualified with several tables in scope."""
        qualifier = column.args.get("table")
        scope: _Scope | None = self
        if qualifier is not None:
            key = _name(qualifier)
            while scope is not None:
                if key in scope.sources:
                    return scope.sources[key]
                scope = scope.parent
            return None
        while scope is not None:
            if len(scope.sources) == 1:
                return next(iter(scope.sources.values()))
            if len(scope.sources) > 1:
                return _AMBIGUOUS
            scope = scope.parent
        return None


def _only_table(columns: list[exp.Column], scope: _Scope) -> _Ref | None:
    """The one table reference all ``columns`` resolve to, or None."""
    refs = {id(r): r for r in (scope.resolve(c) for c in columns)}
    if len(refs) != 1:
        return None
    [ref] = refs.values()
    return ref if isinstance(ref, _Ref) else None


def _scan(node: exp.Expression | None) -> tuple[list[exp.Column], list[exp.Query]]:
    """Columns and nested queries under ``node``, in source order, not entering nested queries."""
    columns: list[exp.Column] = []
    queries: list[exp.Query] = []
    if node is None:
        return columns, queries
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, exp.Column):
            columns.append(n)
        elif isinstance(n, exp.Query):
            queries.append(n)
        else:
            stack.extend(reversed(list(n.iter_expressions())))
    return columns, queries


def _conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    return [] if node is None else _flatten(node, exp.And)


def _disjuncts(node: exp.Expression) -> list[exp.Expression]:
    return _flatten(node, exp.Or)


def _flatten(node: exp.Expression, connector: type[exp.Connector]) -> list[exp.Expression]:
    """The operands of a chain of one connector, in source order.

    Iterative: a chain of a thousand ``OR`` terms (a Django ``Q`` reduced over a list) is a
    tree a thousand levels deep, deeper than recursion allows.
    """
    out: list[exp.Expression] = []
    stack = [node]
    while stack:
        current = _unparen(stack.pop())
        if isinstance(current, connector):
            stack.extend((current.expression, current.this))
        else:
            out.append(current)
    return out


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
class _Key:
    """The indexable side of a condition: one table's column, maybe inside an expression."""

    ref: _Ref
    column: str
    expression: str | None
    json: bool

    @property
    def sql(self) -> str:
        if self.expression is None:
            return (
                _sql(exp.to_identifier(self.column, quoted=True))
                if _needs_quotes(self.column)
                else self.column
            )
        return self.expression if _is_atomic_sql(self.expression) else f"({self.expression})"


def _needs_quotes(name: str) -> bool:
    return not _PLAIN_IDENTIFIER.match(name) or name in _RESERVED


_ATOMIC = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\(.*\)\Z|[a-z_][a-z0-9_]*\Z", re.S)


def _is_atomic_sql(sql: str) -> bool:
    return bool(_ATOMIC.match(sql)) and sql.count("(") == sql.count(")")


# --------------------------------------------------------------------------------------------
# The extractor


class _Extractor:
    """Walks one parsed statement once, scope by scope."""

    def __init__(self) -> None:
        self.refs: list[_Ref] = []

    # -- statements ------------------------------------------------------------------------

    def statement(self, node: exp.Expression, parent: _Scope | None, ctes: frozenset[str]) -> None:
        if isinstance(node, exp.Subquery):
            self.statement(node.this, parent, ctes)
        elif isinstance(node, exp.SetOperation):
            ctes = self._with(node, parent, ctes)
            self.statement(node.this, parent, ctes)
            self.statement(node.expression, parent, ctes)
        elif isinstance(node, exp.Select):
            self._select(node, parent, ctes)
        elif isinstance(node, exp.Update):
            self._update(node, parent, ctes)
        elif isinstance(node, exp.Delete):
            self._delete(node, parent, ctes)
        elif isinstance(node, exp.Insert):
            self._insert(node, parent, ctes)
        else:  # VALUES and the like read no table; a query inside is still looked at
            _, queries = _scan(node)
            for q in queries:
                if q is not node:
                    self.statement(q, parent, ctes)

    def _with(self, node: exp.Expression, parent: _Scope | None, ctes: frozenset[str]):
        with_ = node.args.get("with_")
        if with_ is None:
            return ctes
        for cte in with_.expressions:
            name = _name(cte.args["alias"].this) if cte.args.get("alias") else ""
            if with_.args.get("recursive"):
                ctes = ctes | {name}
            self.statement(cte.this, parent, ctes)
            ctes = ctes | {name}
        return ctes

    def _select(self, node: exp.Select, parent: _Scope | None, ctes: frozenset[str]) -> None:
        ctes = self._with(node, parent, ctes)
        scope = _Scope(parent, ctes)
        from_ = node.args.get("from_")
        if from_ is not None:
            self._source(from_.this, scope, "select")
        joins = node.args.get("joins") or []
        for join in joins:
            self._source(join.this, scope, "select")
        for item in node.expressions:
            if isinstance(item, exp.Alias):
                scope.aliases[_name(item.args["alias"])] = item.this

        # What the statement reads.
        for item in node.expressions:
            if isinstance(item, exp.Star):
                for ref in scope.refs():
                    ref.selected = None
                continue
            if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                ref = scope.resolve(item)
                if isinstance(ref, _Ref):
                    ref.selected = None
                continue
            self._read(item, scope)
        for join in joins:
            self._join(join, scope)
        where = node.args.get("where")
        if where is not None:
            self._read(where.this, scope)
            for conjunct in _conjuncts(where.this):
                self._condition(conjunct, scope)
        for clause in ("group", "having", "qualify", "distinct"):
            part = node.args.get(clause)
            if part is not None:
                self._read(part, scope, aliases=True)
        order = node.args.get("order")
        if order is not None:
            self._read(order, scope, aliases=True)
            self._order(order, node, scope)
        limit = _limit(node)
        if limit is not None:
            for ref in scope.refs():
                ref.limit = limit

    def _update(self, node: exp.Update, parent: _Scope | None, ctes: frozenset[str]) -> None:
        ctes = self._with(node, parent, ctes)
        scope = _Scope(parent, ctes)
        self._source(node.this, scope, "update")
        from_ = node.args.get("from_")
        if from_ is not None:
            self._source(from_.this, scope, "select")
            for join in from_.args.get("joins") or []:
                self._source(join.this, scope, "select")
        for assignment in node.expressions:
            value = assignment.expression if isinstance(assignment, exp.EQ) else assignment
            self._read(value, scope)
        self._where(node, scope)
        self._returning(node, scope)

    def _delete(self, node: exp.Delete, parent: _Scope | None, ctes: frozenset[str]) -> None:
        ctes = self._with(node, parent, ctes)
        scope = _Scope(parent, ctes)
        self._source(node.this, scope, "delete")
        for using in node.args.get("using") or []:
            self._source(using, scope, "select")
        self._where(node, scope)
        self._returning(node, scope)

    def _insert(self, node: exp.Insert, parent: _Scope | None, ctes: frozenset[str]) -> None:
        ctes = self._with(node, parent, ctes)
        scope = _Scope(parent, ctes)
        target = node.this
        if isinstance(target, exp.Schema):
            target = target.this
        self._source(target, scope, "insert")
        source = node.args.get("expression")
        if source is not None:
            self.statement(source, parent, ctes)
        self._returning(node, scope)

    def _where(self, node: exp.Expression, scope: _Scope) -> None:
        where = node.args.get("where")
        if where is not None:
            self._read(where.this, scope)
            for conjunct in _conjuncts(where.this):
                self._condition(conjunct, scope)

    def _returning(self, node: exp.Expression, scope: _Scope) -> None:
        returning = node.args.get("returning")
        if returning is None:
            return
        for item in returning.expressions:
            if isinstance(item, exp.Star):
                for ref in scope.refs():
                    ref.selected = None
            else:
                self._read(item, scope)

    # -- sources ---------------------------------------------------------------------------

    def _source(self, node: exp.Expression, scope: _Scope, kind: str) -> None:
        alias = node.args.get("alias")
        alias_name = _name(alias.this) if alias is not None and alias.this is not None else ""
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name = _name(node.this)
            key = alias_name or name
            if node.args.get("db") is None and name in scope.ctes:
                scope.sources[key] = None
                return
            ref = _Ref(table=name, kind=kind)
            self.refs.append(ref)
            scope.sources[key] = ref
            return
        # A derived table, VALUES, a set-returning function: not a base table, but a query
        # inside is read on its own (it cannot see its sibling FROM items unless LATERAL).
        scope.sources[alias_name or f"?{len(scope.sources)}"] = None
        inner = node.this if isinstance(node, exp.Subquery | exp.Lateral) else node
        if isinstance(inner, exp.Query):
            self.statement(inner, scope.parent, scope.ctes)
        else:
            _, queries = _scan(inner)
            for q in queries:
                self.statement(q, scope.parent, scope.ctes)

    def _join(self, join: exp.Join, scope: _Scope) -> None:
        joined = join.this
        alias = joined.args.get("alias")
        key = (
            _name(alias.this)
            if alias is not None and alias.this is not None
            else _name(joined.this)
            if isinstance(joined, exp.Table)
            else ""
        )
        joined_ref = scope.sources.get(key)
        on = join.args.get("on")
        if on is not None:
            self._read(on, scope)
            for conjunct in _conjuncts(on):
                self._condition(conjunct, scope, only=joined_ref)
        using = join.args.get("using") or []
        if using:
            others = [r for k, r in scope.sources.items() if k != key and r is not None]
            for ident in using:
                column = _name(ident)
                if joined_ref is not None:
                    joined_ref.join_columns[column] = None
                    joined_ref.read(column)
                if len(others) == 1:
                    others[0].join_columns[column] = None
                    others[0].read(column)

    # -- reading columns -------------------------------------------------------------------

    def _read(self, node: exp.Expression, scope: _Scope, aliases: bool = False) -> None:
        """Mark the columns under ``node`` as read and look into its sub-queries."""
        columns, queries = _scan(node)
        for column in columns:
            if isinstance(column.this, exp.Star):
                ref = scope.resolve(column)
                if isinstance(ref, _Ref):
                    ref.selected = None
                continue
            if aliases and column.args.get("table") is None and _name(column.this) in scope.aliases:
                continue  # an output column: its own columns were read with the select list
            ref = scope.resolve(column)
            if isinstance(ref, _Ref):
                ref.read(_name(column.this))
            elif ref is _AMBIGUOUS:
                for candidate in scope.refs():
                    candidate.selected = None
        for query in queries:
            self.statement(query, scope, scope.ctes)

    # -- conditions ------------------------------------------------------------------------

    def _key(self, node: exp.Expression, scope: _Scope) -> _Key | None:
        """The single-table indexable side, or None when it is not one table's column(s)."""
        bare = _strip_column_cast(node)
        if isinstance(bare, exp.Tuple):
            return None  # a row comparison: no single key
        if isinstance(bare, exp.Column):
            if isinstance(bare.this, exp.Star):
                return None
            ref = scope.resolve(bare)
            if not isinstance(ref, _Ref):
                return None
            return _Key(ref, _name(bare.this), None, False)
        columns, queries = _scan(bare)
        if not columns or queries:
            return None
        ref = _only_table(columns, scope)
        if ref is None:
            return None
        json = isinstance(bare, _JSON_EXTRACTS) or any(
            isinstance(n, _JSON_EXTRACTS) for n in bare.walk()
        )
        return _Key(ref, _name(columns[0].this), normalise_expression(bare), json)

    def _condition(self, node: exp.Expression, scope: _Scope, only: _Ref | None = None) -> None:
        found = self._classify(node, scope)
        if found is None:
            return
        key, predicate = found
        if only is not None and key.ref is not only:
            return  # an ON condition filters only the joined table (a LEFT JOIN keeps the rest)
        key.ref.predicates[predicate] = None

    def _classify(self, node: exp.Expression, scope: _Scope) -> tuple[_Key, Predicate] | None:
        node = _unparen(node)
        negated = False
        while isinstance(node, exp.Not):
            negated = not negated
            node = _unparen(node.this)
        if isinstance(node, exp.Escape):
            node = node.this

        if isinstance(node, exp.Column | exp.Cast):  # a boolean column alone
            key = self._key(node, scope)
            if key is None:
                return None
            if key.expression is not None:
                return self._other(node, key, negated)
            value = "FALSE" if negated else "TRUE"
            sql = f"NOT {key.sql}" if negated else key.sql
            return key, Predicate(key.column, Op.EQ, sql, None, (value,))

        if type(node) in _COMPARISONS:
            return self._comparison(node, scope, negated)
        if isinstance(node, exp.In):
            return self._in(node, scope, negated)
        if isinstance(node, exp.Between):
            key = self._key(node.this, scope)
            if key is None or not _free(node.args["low"]) or not _free(node.args["high"]):
                return self._fallback(node, scope, negated)
            if negated or node.args.get("symmetric"):
                return self._other(node, key, negated)
            low, high = node.args["low"], node.args["high"]
            constants = _constants([low, high])
            sql = f"{key.sql} BETWEEN {_value_sql(low)} AND {_value_sql(high)}"
            op = Op.JSON if key.json else Op.RANGE
            return key, Predicate(key.column, op, sql, key.expression, constants)
        if isinstance(node, exp.Is):
            key = self._key(node.this, scope)
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
            return self._other(node, key, negated)
        if isinstance(node, exp.Like | exp.ILike):
            return self._like(node, scope, negated)
        if isinstance(node, _JSON_TESTS):
            key = self._key(node.this, scope)
            if key is None or not _free(node.expression):
                return self._fallback(node, scope, negated)
            if negated:
                return self._other(node, key, negated)
            constants = _constants([node.expression])
            return key, Predicate(
                key.column, Op.JSON, normalise_expression(node), key.expression, constants
            )
        if isinstance(node, exp.Or) and not negated:
            return self._or(node, scope)
        return self._fallback(node, scope, negated)

    def _comparison(
        self, node: exp.Expression, scope: _Scope, negated: bool
    ) -> tuple[_Key, Predicate] | None:
        operator = _COMPARISONS[type(node)]
        left, right = node.this, node.expression
        left_key = self._key(left, scope)
        right_key = self._key(right, scope)
        if left_key is not None and right_key is not None:
            if (
                operator == "="
                and not negated
                and left_key.ref is not right_key.ref
                and left_key.expression is None
                and right_key.expression is None
            ):
                for k in (left_key, right_key):
                    k.ref.join_columns[k.column] = None
            return None
        subquery = _unparen(right)
        if (
            left_key is not None
            and operator == "="
            and isinstance(subquery, exp.Any)
            and isinstance(_unparen(subquery.this), exp.Query)
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
        if left_key is not None and _free(right):
            key, value = left_key, right
        elif right_key is not None and _free(left):
            key, value, operator = right_key, left, _FLIPPED[operator]
        else:
            self._join_sides(left, right, scope, operator, negated)
            return self._fallback(node, scope, negated)
        if negated:
            operator = _NEGATED[operator]
        any_ = _unparen(value)
        if isinstance(any_, exp.All) or (
            isinstance(any_, exp.Anonymous) and str(any_.this).upper() == "ALL"
        ):
            return self._other(node, key, negated)
        if isinstance(any_, exp.Any):
            if operator != "=":
                return self._other(node, key, negated)
            array = _unparen(any_.this)
            items = array.expressions if isinstance(array, exp.Array) else None
            constants = _constants(items) if items else ()
            if constants:
                sql = f"{key.sql} IN ({', '.join(constants)})"
            else:
                sql = f"{key.sql} = ANY({_sql(_normalise_tree(array.copy()))})"
            op = Op.JSON if key.json else Op.IN
            return key, Predicate(key.column, op, sql, key.expression, constants)
        constants = _constants([value])
        if (
            operator in ("=", "<>")
            and key.expression is None
            and constants in (("TRUE",), ("FALSE",))
        ):
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
        self,
        left: exp.Expression,
        right: exp.Expression,
        scope: _Scope,
        operator: str,
        negated: bool,
    ) -> None:
        """``a.x = b.y`` where a side is a column of an outer query or a derived table."""
        if operator != "=" or negated:
            return
        for side in (left, right):
            bare = _strip_column_cast(side)
            if isinstance(bare, exp.Column):
                ref = scope.resolve(bare)
                if isinstance(ref, _Ref):
                    other = right if side is left else left
                    if isinstance(_strip_column_cast(other), exp.Column):
                        ref.join_columns[_name(bare.this)] = None

    def _in(self, node: exp.In, scope: _Scope, negated: bool) -> tuple[_Key, Predicate] | None:
        key = self._key(node.this, scope)
        if key is None:
            return self._fallback(node, scope, negated)
        query = node.args.get("query")
        values = node.expressions
        if query is None and not all(_free(v) for v in values):
            return self._other(node, key, negated)
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

    def _like(
        self, node: exp.Like | exp.ILike, scope: _Scope, negated: bool
    ) -> tuple[_Key, Predicate] | None:
        key = self._key(node.this, scope)
        pattern = node.expression
        if key is None or not _free(pattern):
            return self._fallback(node, scope, negated)
        if negated != bool(node.args.get("negate")):  # NOT LIKE: no index serves it
            node = node.copy()
            node.set("negate", True)
            return self._other(node, key, False)
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

    def _or(self, node: exp.Or, scope: _Scope) -> tuple[_Key, Predicate] | None:
        """``a = 1 OR a IN (2, 3)`` → ``a IN (1, 2, 3)``; any other OR is no index predicate."""
        parts = []
        for disjunct in _disjuncts(node):
            part = self._classify(disjunct, scope)
            if part is None or part[1].op not in (Op.EQ, Op.IN):
                return None
            parts.append(part)
        if len({(id(k.ref), k.column, k.expression) for k, _ in parts}) != 1:
            return None
        key = parts[0][0]
        if not all(p.constants for _, p in parts):
            return key, Predicate(key.column, Op.IN, normalise_expression(node), key.expression)
        constants = tuple(dict.fromkeys(c for _, p in parts for c in p.constants))
        if any(c in ("TRUE", "FALSE", "NULL") for c in constants):
            return None
        sql = f"{key.sql} IN ({', '.join(constants)})"
        return key, Predicate(key.column, Op.IN, sql, key.expression, constants)

    def _other(self, node: exp.Expression, key: _Key, negated: bool) -> tuple[_Key, Predicate]:
        sql = normalise_expression(exp.Not(this=exp.paren(node.copy())) if negated else node)
        return key, Predicate(key.column, Op.OTHER, sql, key.expression)

    def _fallback(
        self, node: exp.Expression, scope: _Scope, negated: bool
    ) -> tuple[_Key, Predicate] | None:
        """Any other condition on exactly one table: an OTHER predicate on its first column."""
        columns, queries = _scan(node)
        if not columns:
            return None
        ref = _only_table(columns, scope)
        if ref is None or queries:
            return None
        key = _Key(ref, _name(columns[0].this), None, False)
        return self._other(node, key, negated)

    # -- order -----------------------------------------------------------------------------

    def _order(self, order: exp.Order, select: exp.Select, scope: _Scope) -> None:
        keys: list[OrderKey] = []
        owner: _Ref | None = None
        for ordered in order.expressions:
            target = ordered.this
            if isinstance(target, exp.Literal) and not target.is_string:
                position = int(target.this) - 1
                if not 0 <= position < len(select.expressions):
                    return
                target = select.expressions[position]
                if isinstance(target, exp.Alias):
                    target = target.this
            elif (
                isinstance(target, exp.Column)
                and target.args.get("table") is None
                and _name(target.this) in scope.aliases
            ):
                target = scope.aliases[_name(target.this)]
            key = self._key(target, scope)
            if key is None or (owner is not None and key.ref is not owner):
                return
            owner = key.ref
            descending = bool(ordered.args.get("desc"))
            nulls_first = ordered.args.get("nulls_first")
            keys.append(
                OrderKey(
                    key.column,
                    descending,
                    None
                    if nulls_first is None or bool(nulls_first) == descending
                    else bool(nulls_first),
                    key.expression,
                )
            )
        if owner is not None:
            owner.order_by = tuple(keys)


def _free(node: exp.Expression) -> bool:
    """True when a value reads no column of the statement (constants, parameters, functions)."""
    columns, queries = _scan(node)
    return not columns and not queries


def _constants(values: list[exp.Expression]) -> tuple[str, ...]:
    """The literals of all values when every one is a constant, else ()."""
    out = []
    for v in values:
        c = _constant(v)
        if c is None:
            return ()
        out.append(c)
    return tuple(out)


def _value_sql(node: exp.Expression) -> str:
    sql = _sql(_normalise_tree(node.copy()))
    inner = _unparen(node)
    if isinstance(inner, exp.Binary) and not isinstance(inner, exp.Dot):
        return f"({sql})"
    return sql


def _limit(node: exp.Expression) -> int | None:
    limit = node.args.get("limit")
    if limit is None:
        return None
    value = limit.args.get("count") if isinstance(limit, exp.Fetch) else limit.expression
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    return None


# --------------------------------------------------------------------------------------------
# Parsing

_QUERY_WORDS = frozenset({"SELECT", "WITH", "UPDATE", "DELETE", "INSERT", "VALUES", "TABLE"})
_DDL_WORDS = frozenset({"CREATE", "ALTER", "DROP", "COMMENT"})
_DDL_MODIFIERS = frozenset(
    {
        "OR",
        "REPLACE",
        "UNIQUE",
        "TEMP",
        "TEMPORARY",
        "UNLOGGED",
        "GLOBAL",
        "LOCAL",
        "MATERIALIZED",
        "IF",
        "NOT",
        "EXISTS",
        "CONCURRENTLY",
    }
)
# Whitespace, comments, opening parentheses and psql meta-command lines before the first word.
_LEADING_NOISE = re.compile(
    r"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/|\(|^\\[^\n]*(?:\n|\Z))*", re.S | re.M
)
_WORD = re.compile(r"[A-Za-z_]+")


def _statement_words(sql: str) -> str:
    """``"CREATE UNIQUE INDEX …"`` → ``"CREATE UNIQUE INDEX"``: what a statement is, in words."""
    start = _LEADING_NOISE.match(sql)
    words = _WORD.findall(sql[start.end() if start else 0 :][:200])
    if not words:
        return ""
    first = words[0].upper()
    if first not in _DDL_WORDS:
        return first
    out = [first]
    for word in words[1:4]:
        out.append(word.upper())
        if word.upper() not in _DDL_MODIFIERS:
            break
    return " ".join(out)


_PSQL_META = re.compile(r"^\s*\\.*$", re.M)
_PARAM_COMMA = re.compile(r"\$(\d+),(?=\S)")
_DJANGO_PARAM = re.compile(r"%%|%s")


def _repaired(sql: str) -> str:
    """Cheap repairs of SQL as it comes out of logs and Django: psql meta-commands, trailing
    semicolons, ``$2,$3`` (sqlglot cannot tokenize it), Django's ``%s`` and ``%%``."""
    text = _PSQL_META.sub("", sql).strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    text = _PARAM_COMMA.sub(r"$\1, ", text)
    counter = iter(range(1, 1_000_000))
    return _DJANGO_PARAM.sub(lambda m: "%" if m.group() == "%%" else f"${next(counter)}", text)


def _parse(sql: str) -> list[exp.Expression]:
    """Parse one statement, trying cheap repairs before giving up.

    Any failure of sqlglot on the text (it raises ValueError, KeyError, IndexError… besides
    ParseError on odd input) is :class:`UnparsableSQL` with a one-line message; running out of
    recursion depth is :class:`RecursionError`, for the caller to name.
    """
    try:
        trees = sqlglot.parse(sql, read="postgres")
    except RecursionError:
        raise
    except Exception as first_error:
        repaired = _repaired(sql)
        if repaired == sql:
            raise UnparsableSQL(_first_line(first_error)) from first_error
        try:
            trees = sqlglot.parse(repaired, read="postgres")
        except RecursionError:
            raise
        except Exception:
            raise UnparsableSQL(_first_line(first_error)) from first_error
    return [t for t in trees if t is not None]


_QUERY_NODES = (exp.Query, exp.Update, exp.Delete, exp.Insert)


def _is_query(tree: exp.Expression) -> bool:
    return isinstance(tree, _QUERY_NODES)


def _patterns(query_id: str, trees: list[exp.Expression]) -> tuple[AccessPattern, ...]:
    extractor = _Extractor()
    for tree in trees:
        if _is_query(tree):
            extractor.statement(tree, None, frozenset())
    return tuple(dict.fromkeys(ref.pattern(query_id) for ref in extractor.refs))


def extract(query: Query) -> tuple[AccessPattern, ...]:
    """Parse one query (postgres dialect) into per-table access patterns.

    One pattern per table *reference* (a self-join gives two), in the order the tables appear,
    sub-queries and derived tables included; identical patterns are merged. Statements that are
    no query (DDL, ``SET``, ``BEGIN``) give ``()``.

    Raises :class:`idxadvisor.errors.UnparsableSQL` with a one-line reason when the statement
    cannot be parsed even after cheap repairs, is too deeply nested, or cannot be read.
    """
    if _statement_words(query.sql) not in _QUERY_WORDS:
        return ()
    patterns, reason = _read(query)
    if reason is not None:
        raise UnparsableSQL(reason)
    return patterns


def analyse(workload: Workload) -> tuple[tuple[AccessPattern, ...], tuple[Skipped, ...]]:
    """Access patterns of every query; unparsable ones come back as skipped with the reason.

    Whatever goes wrong with one statement (a parse error, nesting too deep for the parser, an
    odd tree) skips that statement with a one-line reason; the others are read.

    >>> from idxadvisor.types.workload import Origin, Statement
    >>> from idxadvisor.workload import build_workload
    >>> wl = build_workload([
    ...     Statement("SELECT id FROM t WHERE a = $1", Origin("q.sql", 1)),
    ...     Statement("CREATE TABLE u (a int)", Origin("q.sql", 2)),
    ...     Statement("SELECT FROM WHERE", Origin("q.sql", 3)),
    ...     Statement("SELECT * FROM " + "(SELECT * FROM " * 60 + "t" + ") s" * 60,
    ...               Origin("q.sql", 4)),
    ... ])
    >>> patterns, skipped = analyse(wl)
    >>> [(p.table, p.predicates[0].sql) for p in patterns]
    [('t', 'a = $1')]
    >>> skipped[0].reason, skipped[1].reason.split(":")[0], str(skipped[1].origin)
    ('not a query: CREATE TABLE', 'unparsable SQL', 'q.sql:3')
    >>> skipped[2].reason
    'too deeply nested for analysis (60 levels of parentheses; the limit is 32)'
    """
    patterns: list[AccessPattern] = []
    skipped: list[Skipped] = []
    for query in workload.queries:
        origin = query.origins[0] if query.origins else None
        words = _statement_words(query.sql)
        if words not in _QUERY_WORDS:
            reason = f"not a query: {words}" if words else "not a query: empty statement"
            skipped.append(Skipped(reason, origin, query.sql))
            continue
        found, problem = _read(query)
        if problem is not None:
            skipped.append(Skipped(problem, origin, query.sql))
            continue
        patterns.extend(found)
    return tuple(patterns), tuple(skipped)


def _read(query: Query) -> tuple[tuple[AccessPattern, ...], str | None]:
    """The access patterns of one query statement, or why there are none (a one-line reason).

    The per-statement boundary: no exception from parsing or walking one statement gets out.
    """
    deep = too_deep(query.sql)
    if deep is not None:
        return (), deep  # checked first: the parser would run into the interpreter's limit
    try:
        trees = _parse(query.sql)
    except UnparsableSQL as exc:
        return (), f"unparsable SQL: {exc}"
    except RecursionError:
        return (), too_deep_reason("parsing")
    if not any(_is_query(t) for t in trees):
        kind = type(trees[0]).__name__.upper() if trees else "empty statement"
        return (), f"not a query: {kind}"
    try:
        return _patterns(query.id, trees), None
    except RecursionError:
        return (), too_deep_reason("reading its clauses")
    # A statement sqlglot parsed into a tree shape the extractor does not expect.
    except Exception as exc:
        return (), f"cannot analyse this statement: {type(exc).__name__}: {_first_line(exc)}"
