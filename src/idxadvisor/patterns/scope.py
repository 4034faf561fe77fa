"""Scopes: which table reference each column of a statement belongs to.

One :class:`Ref` per base-table reference (a self-join gives two); a :class:`Scope` per SELECT,
UPDATE, DELETE or INSERT, chained to the enclosing one so correlated sub-queries resolve outward.

>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT a.x FROM t a JOIN u ON u.id = a.u_id", read="postgres")
>>> scope = Scope(None, frozenset())
>>> scope.sources["a"] = Ref("t", "select")
>>> scope.sources["u"] = Ref("u", "select")
>>> [c.sql() for c in scan(tree.args["joins"][0].args["on"])[0]]
['u.id', 'a.u_id']
>>> scope.resolve(tree.expressions[0]).table
't'
>>> scope.resolve(sqlglot.parse_one("x", read="postgres")) is AMBIGUOUS
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from idxadvisor.types.access import AccessKind, AccessPattern, OrderKey, Predicate

__all__ = [
    "AMBIGUOUS",
    "Ref",
    "Scope",
    "conjuncts",
    "disjuncts",
    "name_of",
    "only_table",
    "runs_per_row",
    "scan",
    "unparen",
]


def name_of(identifier: exp.Expr | None) -> str:
    """An identifier as PostgreSQL resolves it: unquoted names fold to lower case."""
    if identifier is None:
        return ""
    if isinstance(identifier, exp.Identifier):
        return identifier.this if identifier.quoted else identifier.this.lower()
    return identifier.name.lower()


def unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


AMBIGUOUS = object()


@dataclass(eq=False, slots=True)
class Ref:
    """One base-table reference of the statement, collecting what the statement asks of it."""

    table: str
    kind: AccessKind
    predicates: dict[Predicate, None] = field(default_factory=dict)
    # Each join column with the references it is equated to (None: a column of an enclosing
    # query or a derived table, whose rows may come from anywhere).
    join_columns: dict[str, list[Ref | None]] = field(default_factory=dict)
    order_by: tuple[OrderKey, ...] = ()
    limit: int | None = None
    selected: dict[str, None] | None = field(default_factory=dict)
    assigned: dict[str, None] = field(default_factory=dict)  # columns an UPDATE sets
    computed: dict[str, None] = field(default_factory=dict)  # ... from the row (n = n + 1)

    def joins(self, column: str, partner: Ref | None) -> None:
        self.join_columns.setdefault(column, []).append(partner)

    def read(self, column: str) -> None:
        if self.selected is not None:
            self.selected[column] = None

    def pattern(self, query_id: str, join_columns: tuple[str, ...]) -> AccessPattern:
        return AccessPattern(
            query_id=query_id,
            table=self.table,
            kind=self.kind,
            predicates=tuple(self.predicates),
            join_columns=join_columns,
            order_by=self.order_by,
            limit=self.limit,
            selected=None if self.selected is None else tuple(self.selected),
            computed=tuple(self.computed),
            assigned=tuple(self.assigned),
        )


@dataclass(eq=False, slots=True)
class Scope:
    parent: Scope | None
    ctes: frozenset[str]
    sources: dict[str, Ref | None] = field(default_factory=dict)  # None: derived/opaque
    aliases: dict[str, exp.Expr] = field(default_factory=dict)  # select-list aliases
    per_row: bool = False  # run once per row of the enclosing query (runs_per_row)

    def given_per_row(self, ref: Ref) -> bool:
        """Whether ``ref`` is a table of a query that runs this one once per row of its own.

        PostgreSQL runs a scalar sub-query (``SELECT (SELECT … WHERE u.id = t.u_id) FROM t``)
        as a SubPlan, once for each row of ``t``: ``t``'s column is a value handed to each run,
        and ``t`` is read by its own filters. Only an EXISTS or IN in a WHERE / ON condition
        can become a join that either side may drive (:func:`runs_per_row`).
        """
        scope: Scope | None = self
        while scope is not None:
            if any(r is ref for r in scope.sources.values()):
                return False
            if scope.per_row:
                return True
            scope = scope.parent
        return False

    def refs(self) -> list[Ref]:
        return [r for r in self.sources.values() if r is not None]

    def resolve(self, column: exp.Column) -> Ref | object | None:
        """The reference a column belongs to; None when it is not a base table's (or unknown),
        AMBIGUOUS when unqualified with several tables in scope."""
        qualifier = column.args.get("table")
        scope: Scope | None = self
        if qualifier is not None:
            key = name_of(qualifier)
            while scope is not None:
                if key in scope.sources:
                    return scope.sources[key]
                scope = scope.parent
            return None
        while scope is not None:
            if len(scope.sources) == 1:
                return next(iter(scope.sources.values()))
            if len(scope.sources) > 1:
                return AMBIGUOUS
            scope = scope.parent
        return None


def runs_per_row(query: exp.Query, qual: exp.Expr | None) -> bool:
    """A sub-query PostgreSQL runs once per row of the enclosing one (a SubPlan), rather than
    one it may turn into a join either side may drive. Only a WHERE or JOIN ON condition
    (``qual``) is turned: an EXISTS or an IN / ANY under AND (a semi-join; NOT IN keeps its
    NULL rule). A NOT EXISTS becomes an anti-join, which the enclosing query's rows drive: the
    sub-query is probed for each of them, as a SubPlan is, so the enclosing table's column is a
    value handed to each probe, never a key to reach its own rows by. Anywhere else, Django's
    ``annotate(x=Exists(…))`` in the select list included, the sub-query runs per row."""
    node: exp.Expr | None = query.parent
    while isinstance(node, exp.Paren):
        node = node.parent
    if qual is None or not isinstance(node, exp.Exists | exp.In | exp.Any):
        return True
    allowed = (exp.And, exp.Paren)
    link: exp.Expr | None = node
    if isinstance(node, exp.Any) and isinstance(node.parent, exp.EQ):
        link = node.parent  # x = ANY (SELECT …)
    while link is not None and link is not qual:
        link = link.parent
        if link is not None and link is not qual and not isinstance(link, allowed):
            return True
    return link is None  # not under ``qual`` after all: read it as run per row


def only_table(columns: list[exp.Column], scope: Scope) -> Ref | None:
    """The one table reference all ``columns`` resolve to, or None."""
    refs = {id(r): r for r in (scope.resolve(c) for c in columns)}
    if len(refs) != 1:
        return None
    [ref] = refs.values()
    return ref if isinstance(ref, Ref) else None


def scan(node: exp.Expr | None) -> tuple[list[exp.Column], list[exp.Query]]:
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


def conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    return [] if node is None else _flatten(node, exp.And)


def disjuncts(node: exp.Expr) -> list[exp.Expr]:
    return _flatten(node, exp.Or)


def _flatten(node: exp.Expr, connector: type[exp.Connector]) -> list[exp.Expr]:
    """The operands of a chain of one connector, in source order.

    Iterative: a chain of a thousand ``OR`` terms (a Django ``Q`` reduced over a list) is a
    tree a thousand levels deep, deeper than recursion allows.
    """
    out: list[exp.Expr] = []
    stack = [node]
    while stack:
        current = unparen(stack.pop())
        if isinstance(current, connector):
            stack.extend((current.expression, current.this))
        else:
            out.append(current)
    return out
