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

How statements are read (each distinct text is parsed once, :mod:`.parse`; each clause walked
once; columns resolved through :mod:`.scope`; conditions read by :mod:`.predicates`):

* One pattern per table *reference*: a table joined twice (Django's ``T4`` aliases) gives two
  patterns; sub-queries (``WHERE id IN (SELECT …)``, ``EXISTS``), derived tables and CTE bodies
  give patterns of their own tables under the same query id. UPDATE/DELETE targets get kind
  ``update``/``delete`` (tables of ``FROM``/``USING``/sub-queries stay ``select``); an INSERT
  target gets kind ``insert`` with no predicates (``selected`` is its RETURNING columns).
* Names are PostgreSQL's: unquoted identifiers fold to lower case, quoted ones keep their case;
  a schema qualifier is dropped (``public.t`` → ``t``).
* A sub-query PostgreSQL runs once per row of the enclosing query (a scalar one anywhere; an
  EXISTS or IN outside WHERE / JOIN ON, as ``annotate(x=Exists(…))`` writes, or under OR):
  the enclosing query's columns in it are values, as parameters are (``u.id = t.u_id`` is an
  equality on ``u.id``; ``t`` gets no key from it). An EXISTS or IN in a WHERE / ON condition
  may become a join driven from either side: both keep their join columns.
* Index predicates come only from top-level AND-ed conjuncts of WHERE and, for the joined
  table only, of its JOIN ON (a LEFT JOIN's ON does not filter the other side). An OR of
  equalities/INs on one key becomes IN; any other OR is no index predicate (its columns still
  count as read). ``NOT`` inverts comparisons (``NOT (a = 1)`` → ``a <> 1``, NEQ); other
  negations are OTHER.
* A text cast of a column (``"name"::text`` as Django writes for LIKE lookups) is the column
  itself; any other function or cast makes an expression predicate, in the canonical form of
  :func:`idxadvisor.sql.canonical.canonical`. JSON operators (``->``, ``->>``, ``#>``, ``@>``,
  ``?``…) give JSON predicates; row comparisons and multi-table conditions are not index predicates.
* A LIKE pattern known only at run time counts as LIKE_ANY; ILIKE always does.
* ``Predicate.sql`` is folded where PostgreSQL would fold it: ``x IN (1)`` → ``x = 1``,
  ``b = TRUE`` → ``b``, ``UPPER('abc')`` → ``'ABC'``, column moved to the left (``$1 < c`` →
  ``c > $1``). Parameters are ``$n`` (Django's ``%s`` are numbered first).
* ``order_by`` is resolved through select aliases and ordinals (``ORDER BY 1``); NULLS FIRST/LAST
  is kept only when it differs from PostgreSQL's default for the direction. ``limit`` is a
  literal LIMIT/FETCH FIRST count (``LIMIT $1`` → None), given to every table of that SELECT.
* A text holding more than one statement (``SELECT …; DELETE …``) is skipped with the reason:
  its parts are no one query.
* ``assigned`` of an UPDATE target lists the columns its SET writes; ``computed`` those whose
  new value reads a column (``n = n + 1``): they change, whatever the parameters.
* ``join_columns`` of a reference are those equated to a column of another reference that can
  lead the join (:func:`_lookup_joins`), or of an enclosing query or derived table.
* ``selected`` is None after ``*``/``t.*``, or when an unqualified column cannot be attributed.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from sqlglot import exp

from idxadvisor.errors import UnparsableSQL
from idxadvisor.patterns.parse import first_line, parse
from idxadvisor.patterns.predicates import classify, key_of, limit_of
from idxadvisor.patterns.scope import (
    AMBIGUOUS,
    Ref,
    Scope,
    conjuncts,
    name_of,
    runs_per_row,
    scan,
)
from idxadvisor.sql.fingerprint import too_deep_reason
from idxadvisor.sql.statements import Kind
from idxadvisor.sql.statements import classify as classify_statement
from idxadvisor.types.access import AccessKind, AccessPattern, Op, OrderKey
from idxadvisor.types.workload import Query, Skipped, Workload

if TYPE_CHECKING:
    from idxadvisor.progress import Progress

__all__ = ["PARALLEL_THRESHOLD", "analyse", "extract"]


# --------------------------------------------------------------------------------------------
# The walk


class _Extractor:
    """Walks one parsed statement once, scope by scope."""

    def __init__(self) -> None:
        self.refs: list[Ref] = []

    # -- statements ------------------------------------------------------------------------

    def statement(
        self, node: exp.Expr, parent: Scope | None, ctes: frozenset[str], per_row: bool = False
    ) -> None:
        if isinstance(node, exp.Subquery):
            self.statement(node.this, parent, ctes, per_row)
        elif isinstance(node, exp.SetOperation):
            ctes = self._with(node, parent, ctes)
            self.statement(node.this, parent, ctes, per_row)
            self.statement(node.expression, parent, ctes, per_row)
        elif isinstance(node, exp.Select):
            self._select(node, parent, ctes, per_row)
        elif isinstance(node, exp.Update):
            self._update(node, parent, ctes)
        elif isinstance(node, exp.Delete):
            self._delete(node, parent, ctes)
        elif isinstance(node, exp.Insert):
            self._insert(node, parent, ctes)
        else:  # VALUES and the like read no table; a query inside is still looked at
            _, queries = scan(node)
            for q in queries:
                if q is not node:
                    self.statement(q, parent, ctes)

    def _with(self, node: exp.Expr, parent: Scope | None, ctes: frozenset[str]):
        with_ = node.args.get("with_")
        if with_ is None:
            return ctes
        for cte in with_.expressions:
            name = name_of(cte.args["alias"].this) if cte.args.get("alias") else ""
            if with_.args.get("recursive"):
                ctes = ctes | {name}
            self.statement(cte.this, parent, ctes)
            ctes = ctes | {name}
        return ctes

    def _select(
        self, node: exp.Select, parent: Scope | None, ctes: frozenset[str], per_row: bool = False
    ) -> None:
        ctes = self._with(node, parent, ctes)
        scope = Scope(parent, ctes, per_row=per_row)
        from_ = node.args.get("from_")
        if from_ is not None:
            self._source(from_.this, scope, "select")
        joins = node.args.get("joins") or []
        for join in joins:
            self._source(join.this, scope, "select")
        for item in node.expressions:
            if isinstance(item, exp.Alias):
                scope.aliases[name_of(item.args["alias"])] = item.this

        # What the statement reads.
        for item in node.expressions:
            if isinstance(item, exp.Star):
                for ref in scope.refs():
                    ref.selected = None
                continue
            if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                resolved = scope.resolve(item)
                if isinstance(resolved, Ref):
                    resolved.selected = None
                continue
            self._read(item, scope)
        for join in joins:
            self._join(join, scope)
        where = node.args.get("where")
        if where is not None:
            self._read(where.this, scope, qual=True)
            outer = _null_extended(joins, scope)
            for conjunct in conjuncts(where.this):
                self._condition(conjunct, scope, null_extended=outer)
        for clause in ("group", "having", "qualify", "distinct"):
            part = node.args.get(clause)
            if part is not None:
                self._read(part, scope, aliases=True)
        order = node.args.get("order")
        if order is not None:
            self._read(order, scope, aliases=True)
            self._order(order, node, scope)
        limit = limit_of(node)
        if limit is not None:
            for ref in scope.refs():
                ref.limit = limit

    def _update(self, node: exp.Update, parent: Scope | None, ctes: frozenset[str]) -> None:
        ctes = self._with(node, parent, ctes)
        scope = Scope(parent, ctes)
        self._source(node.this, scope, "update")
        from_ = node.args.get("from_")
        if from_ is not None:
            self._source(from_.this, scope, "select")
            for join in from_.args.get("joins") or []:
                self._source(join.this, scope, "select")
        target = scope.sources.get(next(iter(scope.sources), ""))
        for assignment in node.expressions:
            value = assignment.expression if isinstance(assignment, exp.EQ) else assignment
            column = assignment.this if isinstance(assignment, exp.EQ) else None
            if isinstance(target, Ref) and isinstance(column, exp.Column):
                target.assigned[name_of(column.this)] = None
                if value is not None and value.find(exp.Column) is not None:
                    target.computed[name_of(column.this)] = None
            self._read(value, scope)
        self._where(node, scope)
        self._returning(node, scope)

    def _delete(self, node: exp.Delete, parent: Scope | None, ctes: frozenset[str]) -> None:
        ctes = self._with(node, parent, ctes)
        scope = Scope(parent, ctes)
        self._source(node.this, scope, "delete")
        for using in node.args.get("using") or []:
            self._source(using, scope, "select")
        self._where(node, scope)
        self._returning(node, scope)

    def _insert(self, node: exp.Insert, parent: Scope | None, ctes: frozenset[str]) -> None:
        ctes = self._with(node, parent, ctes)
        scope = Scope(parent, ctes)
        target = node.this
        if isinstance(target, exp.Schema):
            target = target.this
        self._source(target, scope, "insert")
        source = node.args.get("expression")
        if source is not None:
            self.statement(source, parent, ctes)
        self._returning(node, scope)

    def _where(self, node: exp.Expr, scope: Scope) -> None:
        where = node.args.get("where")
        if where is not None:
            self._read(where.this, scope, qual=True)
            for conjunct in conjuncts(where.this):
                self._condition(conjunct, scope)

    def _returning(self, node: exp.Expr, scope: Scope) -> None:
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

    def _source(self, node: exp.Expr, scope: Scope, kind: AccessKind) -> None:
        alias = node.args.get("alias")
        alias_name = name_of(alias.this) if alias is not None and alias.this is not None else ""
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name = name_of(node.this)
            key = alias_name or name
            if node.args.get("db") is None and name in scope.ctes:
                scope.sources[key] = None
                return
            ref = Ref(table=name, kind=kind)
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
            _, queries = scan(inner)
            for q in queries:
                self.statement(q, scope.parent, scope.ctes)

    def _join(self, join: exp.Join, scope: Scope) -> None:
        key = _source_key(join.this)
        joined_ref = scope.sources.get(key)
        on = join.args.get("on")
        if on is not None:
            self._read(on, scope, qual=True)
            for conjunct in conjuncts(on):
                self._condition(conjunct, scope, only=joined_ref)
        using = join.args.get("using") or []
        if using:
            others = [r for k, r in scope.sources.items() if k != key and r is not None]
            for ident in using:
                column = name_of(ident)
                partner = others[0] if len(others) == 1 else None
                if joined_ref is not None:
                    joined_ref.joins(column, partner)
                    joined_ref.read(column)
                if partner is not None:
                    partner.joins(column, joined_ref)
                    partner.read(column)

    # -- reading columns -------------------------------------------------------------------

    def _read(
        self, node: exp.Expr, scope: Scope, aliases: bool = False, qual: bool = False
    ) -> None:
        """Mark the columns under ``node`` as read and look into its sub-queries (``qual``:
        ``node`` is a WHERE or JOIN ON condition, where a sub-query may become a join)."""
        columns, queries = scan(node)
        for column in columns:
            if isinstance(column.this, exp.Star):
                ref = scope.resolve(column)
                if isinstance(ref, Ref):
                    ref.selected = None
                continue
            unqualified = column.args.get("table") is None
            if aliases and unqualified and name_of(column.this) in scope.aliases:
                continue  # an output column: its own columns were read with the select list
            ref = scope.resolve(column)
            if isinstance(ref, Ref):
                ref.read(name_of(column.this))
            elif ref is AMBIGUOUS:
                for candidate in scope.refs():
                    candidate.selected = None
        for query in queries:
            per_row = runs_per_row(query, node if qual else None)
            self.statement(query, scope, scope.ctes, per_row)

    def _condition(
        self,
        node: exp.Expr,
        scope: Scope,
        only: Ref | None = None,
        null_extended: frozenset[int] = frozenset(),
    ) -> None:
        found = classify(node, scope)
        if found is None:
            return
        key, predicate = found
        if only is not None and key.ref is not only:
            return  # an ON condition filters only the joined table (a LEFT JOIN keeps the rest)
        if id(key.ref) in null_extended and predicate.op is Op.IS_NULL:
            # `LEFT JOIN b … WHERE b.id IS NULL` (Django's `filter(b__isnull=True)`): true of
            # the rows no b matches, so it is checked after the join, never on b's rows. b is
            # probed by its join columns only (an anti-join).
            return
        key.ref.predicates[predicate] = None

    # -- order -----------------------------------------------------------------------------

    def _order(self, order: exp.Order, select: exp.Select, scope: Scope) -> None:
        keys: list[OrderKey] = []
        owner: Ref | None = None
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
                and name_of(target.this) in scope.aliases
            ):
                target = scope.aliases[name_of(target.this)]
            key = key_of(target, scope)
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


def _null_extended(joins: list[exp.Join], scope: Scope) -> frozenset[int]:
    """``id()`` of the references an outer join may fill with NULLs: the joined table of a
    LEFT JOIN, the tables before a RIGHT JOIN, both sides of a FULL one."""
    found: set[int] = set()
    keys = list(scope.sources)  # FROM first, then each join's, in order
    for join in joins:
        side = (join.args.get("side") or "").upper()
        if side not in ("LEFT", "RIGHT", "FULL"):
            continue
        key = _source_key(join.this)
        if key not in scope.sources:
            continue
        position = keys.index(key)
        sides = []
        if side in ("LEFT", "FULL"):
            sides.append(scope.sources[key])
        if side in ("RIGHT", "FULL"):
            sides.extend(scope.sources[k] for k in keys[:position])
        found.update(id(r) for r in sides if isinstance(r, Ref))
    return frozenset(found)


def _source_key(node: exp.Expr) -> str:
    """The name a FROM / JOIN item is known by in its scope: its alias, else its table."""
    alias = node.args.get("alias")
    if alias is not None and alias.this is not None:
        return name_of(alias.this)
    return name_of(node.this) if isinstance(node, exp.Table) else ""


# --------------------------------------------------------------------------------------------
# Statements

# Statement kinds the walk reads (MERGE is not read: no pattern, said so).
_READ_KINDS = frozenset({Kind.SELECT, Kind.INSERT, Kind.UPDATE, Kind.DELETE})
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
_PSQL_META = re.compile(r"^\s*\\.*$", re.M)
_QUERY_NODES = (exp.Query, exp.Update, exp.Delete, exp.Insert)


def _not_read(sql: str) -> str | None:
    """Why ``sql`` is no one statement the walk reads (one line), or None when it is one.

    >>> _not_read("create unique index i on t (a)"), _not_read("SELECT 1; SELECT 2")
    ('not a query: CREATE UNIQUE INDEX', '2 statements in one text (each is read only on its own)')
    """
    info = classify_statement(_PSQL_META.sub("", sql) if "\\" in sql else sql)
    if info.problem:
        return None  # the parser says what is wrong, in its words
    if info.statements > 1:
        return f"{info.statements} statements in one text (each is read only on its own)"
    if info.kind in _READ_KINDS:
        return None
    if not info.words:
        return "not a query: empty statement" if info.kind is Kind.EMPTY else None
    words = [info.words[0]]
    if info.kind is Kind.DDL:
        for word in info.words[1:4]:
            words.append(word)
            if word not in _DDL_MODIFIERS:
                break
    return f"not a query: {' '.join(words)}"


def _patterns(query_id: str, trees: tuple[exp.Expr, ...]) -> tuple[AccessPattern, ...]:
    extractor = _Extractor()
    for tree in trees:
        if isinstance(tree, _QUERY_NODES):
            extractor.statement(tree, None, frozenset())
    refs = extractor.refs
    return tuple(dict.fromkeys(ref.pattern(query_id, _lookup_joins(ref, refs)) for ref in refs))


def _lookup_joins(ref: Ref, refs: list[Ref]) -> tuple[str, ...]:
    """The join columns of ``ref`` a lookup can come in by: those equated to a reference that
    can lead the join without ``ref`` — one with a filter or a sorted LIMIT of its own, or one
    joined to such a reference through others. ``emailaddress.user_id = auth_user.id`` with no
    filter on ``auth_user`` is no key of ``emailaddress``: PostgreSQL reads ``emailaddress`` by its
    own filter and finds each user by its primary key."""
    reached = {
        id(r): r
        for r in refs
        if r is not ref and (r.predicates or (r.order_by and r.limit is not None))
    }
    frontier = list(reached.values())
    while frontier:
        for partners in frontier.pop().join_columns.values():
            for p in partners:
                if p is not None and p is not ref and id(p) not in reached:
                    reached[id(p)] = p
                    frontier.append(p)
    return tuple(
        column
        for column, partners in ref.join_columns.items()
        if any(p is None or id(p) in reached for p in partners)
    )


def extract(query: Query) -> tuple[AccessPattern, ...]:
    """Parse one query (postgres dialect) into per-table access patterns.

    One pattern per table *reference* (a self-join gives two), in the order the tables appear,
    sub-queries and derived tables included; identical patterns are merged. Statements that are
    no query (DDL, ``SET``, ``BEGIN``) give ``()``.

    Raises :class:`idxadvisor.errors.UnparsableSQL` with a one-line reason when the statement
    cannot be parsed even after cheap repairs, is too deeply nested, holds more than one
    statement, or cannot be read.
    """
    reason = _not_read(query.sql)
    if reason is not None:
        if reason.startswith("not a query"):
            return ()
        raise UnparsableSQL(reason)
    patterns, problem = _read(query.id, query.sql)
    if problem is not None:
        raise UnparsableSQL(problem)
    return patterns


# Above this many distinct texts the reading is spread over the cores.
PARALLEL_THRESHOLD = 2000
_CHUNK = 250


def analyse(
    workload: Workload, *, workers: int | None = None, progress: Progress | None = None
) -> tuple[tuple[AccessPattern, ...], tuple[Skipped, ...]]:
    """Access patterns of every query; unparsable ones come back as skipped with the reason.

    Whatever goes wrong with one statement (a parse error, nesting too deep for the parser, an
    odd tree, several statements in one text) skips that statement with a one-line reason; the
    others are read. With more than :data:`PARALLEL_THRESHOLD` queries (or ``workers`` > 1) the
    reading runs in a process pool; the result is the same as read in order.

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
    queries = workload.queries
    jobs = [(q.id, q.sql) for q in queries]
    if workers is None:
        workers = (os.cpu_count() or 1) if len(jobs) > PARALLEL_THRESHOLD else 1
    if workers > 1 and len(jobs) > _CHUNK:
        chunks = [jobs[i : i + _CHUNK] for i in range(0, len(jobs), _CHUNK)]
        results: list[tuple[tuple[AccessPattern, ...], str | None]] = []
        # Not fork: the caller may run threads (Django, psycopg, a progress bar), and a fork of a
        # threaded process can deadlock in the child.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for part in pool.map(_read_chunk, chunks):
                results.extend(part)
                if progress is not None:
                    progress.advance(len(part))
    else:
        results = []
        for job in jobs:
            results.append(_read_one(job))
            if progress is not None:
                progress.advance()
    patterns: list[AccessPattern] = []
    skipped: list[Skipped] = []
    for query, (found, problem) in zip(queries, results, strict=True):
        if problem is not None:
            origin = query.origins[0] if query.origins else None
            skipped.append(Skipped(problem, origin, query.sql))
        else:
            patterns.extend(found)
    return tuple(patterns), tuple(skipped)


def _read_chunk(
    jobs: list[tuple[str, str]],
) -> list[tuple[tuple[AccessPattern, ...], str | None]]:
    return [_read_one(job) for job in jobs]


def _read_one(job: tuple[str, str]) -> tuple[tuple[AccessPattern, ...], str | None]:
    query_id, sql = job
    reason = _not_read(sql)
    if reason is not None:
        return (), reason
    return _read(query_id, sql)


def _read(query_id: str, sql: str) -> tuple[tuple[AccessPattern, ...], str | None]:
    """The access patterns of one query statement, or why there are none (a one-line reason).

    The per-statement boundary: no exception from parsing or walking one statement gets out.
    """
    parsed = parse(sql)
    if parsed.problem is not None:
        return (), parsed.problem
    trees = parsed.trees
    if not any(isinstance(t, _QUERY_NODES) for t in trees):
        kind = type(trees[0]).__name__.upper() if trees else "empty statement"
        return (), f"not a query: {kind}"
    try:
        return _patterns(query_id, trees), None
    except RecursionError:
        return (), too_deep_reason("reading its clauses")
    # A statement sqlglot parsed into a tree shape the extractor does not expect.
    except Exception as exc:
        return (), f"cannot analyse this statement: {type(exc).__name__}: {first_line(exc)}"
