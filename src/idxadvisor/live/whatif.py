"""What-if plan costs with hypothetical indexes (HypoPG), read-only.

>>> # with connect_readonly(url) as db:
>>> #     wi = WhatIf(db)
>>> #     wi.cost("SELECT * FROM hook WHERE status = 'pending'", [candidate]).total_cost

How it stays read-only: ``hypopg_create_index`` only touches the backend's memory, which a
READ ONLY transaction allows; everything runs in such a transaction and is rolled back, and
``hypopg_reset()`` is called after every estimate because hypothetical indexes (like prepared
statements) outlive a rollback. HypoPG must already be installed: creating it is a write, which
analysis never does; without it :attr:`WhatIf.unavailable_reason` says so once.

Every workload text is hostile until checked: before anything is sent, the guard of
:mod:`idxadvisor.sql.statements` must find exactly one SELECT/INSERT/UPDATE/DELETE/MERGE (plain
EXPLAIN executes nothing); a refused text raises :class:`PlanError` with the reason ("not sent to
the server: 3 statements in one text …") and the caller lists it as skipped. What is sent goes
through :func:`~idxadvisor.live.connection.send_one` (extended protocol: the server refuses a
second statement), after :func:`~idxadvisor.live.connection.ensure_read_only` found the
transaction still READ ONLY. Candidates are sent to HypoPG only as one ``CREATE INDEX``.

Two HypoPG 1.3 pitfalls are handled here:

1. A partial predicate is stored as written, not constant-folded, so ``status IN ('a', 'b')`` on a
   varchar column stays an ``ARRAY[…]::text[]`` expression the planner never matches against the
   query's folded ``status::text = ANY('{a,b}'::text[])``. :meth:`WhatIf.normalise_condition`
   lets PostgreSQL fold it (the ``Filter`` of a seq-scan EXPLAIN) before the index is created.
2. An expression index has no statistics until it is built and analysed, so the planner guesses
   (0.5 % of rows for ``=``) and under-rates it. :meth:`WhatIf.cost` then also costs a *column
   proxy* — the same query and index with the expression replaced by its column, whose
   statistics exist — and reports that estimate, flagged ``reliable=False`` with a note.

Queries with ``$n`` parameters are costed with their generic plan (:func:`idxadvisor.live.explain.
explain`: ``EXPLAIN (GENERIC_PLAN)`` on PostgreSQL 16+, ``PREPARE`` + ``force_generic_plan`` on 15).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
import sqlglot
from sqlglot import exp

from idxadvisor.advisor.django_index import create_index_sql
from idxadvisor.advisor.methods import BTREE
from idxadvisor.errors import one_line
from idxadvisor.live.connection import ReadOnlyDatabase, send_one
from idxadvisor.live.explain import explain, plan_error
from idxadvisor.schema.models import expression_key
from idxadvisor.sql.statements import RefusedStatement, explain_refusal, is_create_index
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement

HYPOPG_MISSING = (
    "HypoPG not installed in this database: what-if costs unavailable "
    "(CREATE EXTENSION hypopg to enable)"
)


class PlanError(Exception):
    """One query the planner cannot cost (syntax, unknown table, untyped parameter …)."""


class CandidateError(Exception):
    """A candidate HypoPG cannot create (non-immutable function, unknown column …)."""


@dataclass(frozen=True, slots=True)
class PlanEstimate:
    """The planner's estimate for one query given some hypothetical indexes."""

    total_cost: float
    indexes_used: tuple[str, ...] = ()  # real index names, and labels of hypothetical ones
    candidates_used: tuple[IndexCandidate, ...] = ()
    generic: bool = False  # a generic plan ($n parameters)
    reliable: bool = True
    note: str = ""
    proxied: bool = False  # estimated through the expression's column (pitfall 2)


@dataclass(frozen=True, slots=True)
class Hypothetical:
    """A candidate as HypoPG holds it: the statement used and the estimated size."""

    candidate: IndexCandidate
    sql: str
    size_bytes: int


@dataclass
class WhatIf:
    """What-if costing against one read-only database. Caches per (query, indexes on its tables).

    ``calls`` counts the EXPLAINs actually run, so callers can show how much the cache saved.
    """

    db: ReadOnlyDatabase
    calls: int = 0
    _cache: dict[tuple, PlanEstimate] = field(default_factory=dict)
    _conditions: dict[tuple[str, str], str] = field(default_factory=dict)
    _hypo: dict[tuple, Hypothetical | CandidateError] = field(default_factory=dict)
    _tables: dict[str, frozenset[str] | None] = field(default_factory=dict)
    _refusals: dict[str, str | None] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.db.has_extension("hypopg")

    @property
    def unavailable_reason(self) -> str | None:
        """The one-line note for the report when HypoPG is missing, else None."""
        return None if self.available else HYPOPG_MISSING

    # -- candidates ---------------------------------------------------------------------
    def normalise_condition(self, table: str, condition_sql: str) -> str:
        """The partial-index predicate as PostgreSQL folds it (pitfall 1).

        ``status IN ('pending', 'failed')`` on a varchar column comes back as
        ``((status)::text = ANY ('{pending,failed}'::text[]))``.
        """
        key = (table, condition_sql)
        if key in self._conditions:
            return self._conditions[key]
        folded = condition_sql
        probe = f"SELECT 1 FROM ONLY {quote_ident(table)} WHERE {condition_sql}"
        if explain_refusal(probe) is not None:
            # Not one plain predicate: creating the index will report the problem.
            self._conditions[key] = folded
            return folded
        with self.db.transaction() as conn:
            try:
                with conn.transaction() as tx:
                    for setting in (
                        "enable_indexscan",
                        "enable_bitmapscan",
                        "enable_indexonlyscan",
                        "enable_tidscan",
                    ):
                        conn.execute(f"SET LOCAL {setting} = off")
                    conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                    plan = explain(conn, probe, server_version=self.db.server_version).root
                    if plan.get("Node Type") == "Seq Scan" and plan.get("Filter"):
                        folded = plan["Filter"]
                    raise psycopg.Rollback(tx)  # drop the SET LOCALs
            except (psycopg.Error, RefusedStatement):
                pass  # leave it as written; creating the index will report the problem
        self._conditions[key] = folded
        return folded

    def create_sql(self, candidate: IndexCandidate) -> str:
        """The ``CREATE INDEX`` statement HypoPG gets for ``candidate``, predicate folded."""
        condition = candidate.condition_sql
        if condition:
            condition = self.normalise_condition(candidate.table, condition)
        return create_index_sql(candidate, None, concurrently=False, condition=condition)

    def hypothetical(self, candidate: IndexCandidate) -> Hypothetical:
        """Create the candidate once, alone, to check it and learn its size.

        Raises :class:`CandidateError` with PostgreSQL's reason when HypoPG refuses it.
        """
        key = candidate.definition()
        if key not in self._hypo:
            sql = self.create_sql(candidate)
            if not is_create_index(sql):
                refused = CandidateError(
                    "not sent to the server: not a single CREATE INDEX statement"
                )
                self._hypo[key] = refused
                raise refused
            with self.db.transaction() as conn:
                try:
                    with conn.transaction():
                        _run(conn, "SELECT hypopg_reset()")
                        created = _run(
                            conn, "SELECT indexrelid FROM hypopg_create_index(%s)", [sql]
                        ).fetchone()
                        assert created is not None  # one row per index created, or an error
                        size = _run(
                            conn, "SELECT hypopg_relation_size(%s)", [created[0]]
                        ).fetchone()
                        assert size is not None  # a scalar function: always one row
                        self._hypo[key] = Hypothetical(candidate, sql, int(size[0]))
                except psycopg.Error as exc:
                    self._hypo[key] = CandidateError(one_line(exc))
                finally:
                    _reset(conn)
        found = self._hypo[key]
        if isinstance(found, CandidateError):
            raise found
        return found

    # -- costs --------------------------------------------------------------------------
    def refusal(self, query_sql: str) -> str | None:
        """The guard's reason not to send ``query_sql``, or None; asked once per text (the
        selection costs each query many times)."""
        if query_sql not in self._refusals:
            self._refusals[query_sql] = explain_refusal(query_sql)
        return self._refusals[query_sql]

    def tables_of(self, query_sql: str) -> frozenset[str] | None:
        """Tables a query reads (None when sqlglot cannot tell: then every candidate counts)."""
        if query_sql not in self._tables:
            try:
                tree = sqlglot.parse_one(query_sql, read="postgres")
                names = frozenset(t.name for t in tree.find_all(exp.Table) if t.name)
            except sqlglot.errors.SqlglotError:
                names = None
            self._tables[query_sql] = names or None
        return self._tables[query_sql]

    def cost(self, query_sql: str, hypothetical: Sequence[IndexCandidate] = ()) -> PlanEstimate:
        """The planner's cost of ``query_sql`` with ``hypothetical`` indexes added.

        Only candidates on the query's tables are created (and make up the cache key).
        Raises :class:`PlanError` when the query cannot be planned; candidates HypoPG refuses
        are left out (call :meth:`hypothetical` first to learn why).
        """
        refused = self.refusal(query_sql)
        if refused is not None:
            raise PlanError(f"not sent to the server: {refused}")
        tables = self.tables_of(query_sql)
        relevant = []
        for c in hypothetical:
            if tables is not None and c.table not in tables:
                continue
            try:
                self.hypothetical(c)
            except CandidateError:
                continue
            relevant.append(c)
        relevant.sort(key=lambda c: repr(c.definition()))
        key = (query_sql, tuple(c.definition() for c in relevant))
        if key in self._cache:
            return self._cache[key]
        estimate = self._explain_with(query_sql, relevant)
        proxy = self._expression_proxy(query_sql, relevant, estimate)
        if proxy is not None:
            estimate = proxy
        self._cache[key] = estimate
        return estimate

    def _explain_with(self, query_sql: str, candidates: Sequence[IndexCandidate]) -> PlanEstimate:
        with self.db.transaction() as conn:
            labels: dict[str, IndexCandidate] = {}
            try:
                with conn.transaction() as tx:
                    if candidates:
                        # All in one round trip; each text was checked to be one CREATE INDEX.
                        # Every use ends with a reset, so none are left from before.
                        rows = _run(
                            conn,
                            "SELECT h.indexrelid FROM unnest(%s::text[]) WITH ORDINALITY "
                            "AS s(stmt, n), LATERAL hypopg_create_index(s.stmt) h ORDER BY s.n",
                            [[self.hypothetical(c).sql for c in candidates]],
                        ).fetchall()
                        labels = {f"<{oid}>": c for (oid,), c in zip(rows, candidates, strict=True)}
                    explained = explain(conn, query_sql, server_version=self.db.server_version)
                    raise psycopg.Rollback(tx)  # drops SET LOCALs
            except psycopg.Error as exc:
                raise PlanError(plan_error(exc, query_sql)) from None
            except RefusedStatement as exc:
                raise PlanError(f"not sent to the server: {exc}") from None
            finally:
                # Hypothetical indexes do not go away on rollback.
                if candidates:
                    _reset(conn)
                self.calls += 1  # an EXPLAIN sent (or tried): what the cache exists to save
        plan, generic = explained.plan, explained.generic
        used_names: list[str] = []
        used: list[IndexCandidate] = []
        for name in explained.index_names:
            m = re.match(r"<(\d+)>", name)
            if m and f"<{m.group(1)}>" in labels:
                c = labels[f"<{m.group(1)}>"]
                if c not in used:
                    used.append(c)
                    used_names.append(describe_candidate(c))
            elif name not in used_names:
                used_names.append(name)
        return PlanEstimate(
            float(plan["Plan"]["Total Cost"]), tuple(used_names), tuple(used), generic=generic
        )

    # -- pitfall 2 ----------------------------------------------------------------------
    def _expression_proxy(
        self, query_sql: str, candidates: Sequence[IndexCandidate], direct: PlanEstimate
    ) -> PlanEstimate | None:
        """For expression candidates: the estimate with each expression replaced by its column.

        Returns None when no candidate has an expression the query uses. The proxy's relative
        saving is applied to the real query's base cost, and never makes things look worse
        than the direct estimate.
        """
        swaps: dict[str, str] = {}
        unprovable: list[str] = []
        for c in candidates:
            for e in c.elements:
                if not e.expression:
                    continue
                column = _single_column(e.expression)
                if column and _keeps_distinct_values(e.expression):
                    swaps[expression_key(e.expression)] = column
                else:
                    unprovable.append(expression_key(e.expression))
        if not swaps and not unprovable:
            return None
        proxy_sql = _replace_expressions(query_sql, swaps) if swaps else None
        if proxy_sql is None:
            exprs = ", ".join(sorted(set(unprovable) | set(swaps)))
            return replace(
                direct,
                reliable=False,
                note=(
                    f"what-if cost unreliable for {exprs}: PostgreSQL has no statistics for the "
                    "expression until the index is built and analysed"
                ),
            )
        proxy_candidates = [_proxy_candidate(c, swaps) for c in candidates]
        try:
            base = self.cost(query_sql, [c for c in candidates if not _has_expression(c)])
            proxy_base = self._explain_with(
                proxy_sql,
                [
                    p
                    for p, c in zip(proxy_candidates, candidates, strict=True)
                    if not _has_expression(c)
                ],
            )
            proxy_after = self._explain_with(
                proxy_sql, [c for c in proxy_candidates if self._creatable(c)]
            )
        except PlanError:
            return None
        if proxy_base.total_cost <= 0:
            return None
        ratio = proxy_after.total_cost / proxy_base.total_cost
        estimated = min(direct.total_cost, base.total_cost * ratio)
        exprs = ", ".join(sorted(swaps))
        cols = ", ".join(sorted(set(swaps.values())))
        note = (
            f"what-if cost for {exprs} estimated from the statistics of {cols}: PostgreSQL "
            "has none for the expression until the index is built and analysed"
        )
        used = direct.candidates_used
        names = direct.indexes_used
        if proxy_after.candidates_used and not used:
            # The proxy index stands for the expression candidate at the same position.
            back = {p.definition(): c for p, c in zip(proxy_candidates, candidates, strict=True)}
            used = tuple(
                back[p.definition()] for p in proxy_after.candidates_used if p.definition() in back
            )
            names = tuple(describe_candidate(c) for c in used)
        return replace(
            direct,
            total_cost=estimated,
            candidates_used=used,
            indexes_used=names,
            reliable=False,
            note=note,
            proxied=True,
        )

    def _creatable(self, candidate: IndexCandidate) -> bool:
        try:
            self.hypothetical(candidate)
        except CandidateError:
            return False
        return True


# -- rendering -------------------------------------------------------------------------
_SAFE_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")


def quote_ident(name: str) -> str:
    """``name`` quoted for SQL when it needs to be.

    >>> quote_ident("hook"), quote_ident("Hook")
    ('hook', '"Hook"')
    """
    if _SAFE_IDENT.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def describe_candidate(candidate: IndexCandidate) -> str:
    """A short label: ``hook(status, next_retry_at) WHERE …`` (``USING brin`` when not btree).

    >>> from idxadvisor.types.schema import IndexElement
    >>> describe_candidate(IndexCandidate("hook", (IndexElement(column="a", descending=True),)))
    'hook(a DESC)'
    """
    keys = ", ".join(e.key + (" DESC" if e.descending else "") for e in candidate.elements)
    text = f"{candidate.table}({keys})"
    if candidate.method != BTREE:
        text += f" USING {candidate.method}"
    if candidate.include:
        text += " INCLUDE (" + ", ".join(candidate.include) + ")"
    if candidate.condition_sql:
        text += f" WHERE {candidate.condition_sql}"
    return text


# -- helpers ---------------------------------------------------------------------------
def _run(
    conn: psycopg.Connection, text: str, params: Sequence[Any] | None = None
) -> psycopg.Cursor:
    """Execute one statement with the tool's mark (pg_stat_statements readers leave those out),
    with the extended protocol: the server refuses a second statement in ``text``."""
    return send_one(conn, text, params)


def _reset(conn: psycopg.Connection) -> None:
    """Drop the hypothetical indexes (they outlive a rollback). Runs after the caller's
    savepoint has ended, so the transaction is usable; a failure there surfaces on the
    session's next statement."""
    with contextlib.suppress(psycopg.Error):
        _run(conn, "SELECT hypopg_reset()")


def _has_expression(candidate: IndexCandidate) -> bool:
    return any(e.expression for e in candidate.elements)


# Functions whose result has about as many distinct values as their argument, so the column's
# statistics are a fair stand-in for the expression's (date_trunc, for one, is not).
_DISTINCT_KEEPING = {"UPPER", "LOWER", "TRIM", "BTRIM", "LTRIM", "RTRIM", "MD5", "UNACCENT"}


def _keeps_distinct_values(expression: str) -> bool:
    try:
        tree = sqlglot.parse_one(expression, read="postgres")
    except sqlglot.errors.SqlglotError:
        return False
    for node in tree.walk():
        if isinstance(node, exp.Column | exp.Paren | exp.DataType | exp.Identifier):
            continue
        if isinstance(node, exp.Cast):
            continue
        if isinstance(node, exp.Func):
            name = node.sql_name() if not isinstance(node, exp.Anonymous) else node.name
            if name.upper() not in _DISTINCT_KEEPING:
                return False
            continue
        return False
    return True


def _single_column(expression: str) -> str | None:
    """The one column an expression reads (``UPPER(email)`` → ``email``), else None."""
    try:
        tree = sqlglot.parse_one(expression, read="postgres")
    except sqlglot.errors.SqlglotError:
        return None
    names = {c.name for c in tree.find_all(exp.Column)}
    return names.pop() if len(names) == 1 else None


def _replace_expressions(query_sql: str, swaps: dict[str, str]) -> str | None:
    """``query_sql`` with each expression (by :func:`expression_key`) replaced by its column."""
    try:
        tree = sqlglot.parse_one(query_sql, read="postgres")
    except sqlglot.errors.SqlglotError:
        return None
    changed = False
    for node in list(tree.find_all(exp.Func, exp.Cast)):
        if node.parent is None and node is not tree:
            continue  # already replaced along with an ancestor
        try:
            key = expression_key(node.sql(dialect="postgres"))
        except sqlglot.errors.SqlglotError:
            continue
        if key in swaps:
            qualifier = next((c.table for c in node.find_all(exp.Column) if c.table), None)
            node.replace(exp.column(swaps[key], table=qualifier))
            changed = True
    return tree.sql(dialect="postgres") if changed else None


def _proxy_candidate(candidate: IndexCandidate, swaps: dict[str, str]) -> IndexCandidate:
    elements = tuple(
        IndexElement(column=swaps[expression_key(e.expression)], descending=e.descending)
        if e.expression and expression_key(e.expression) in swaps
        else e
        for e in candidate.elements
    )
    return replace(candidate, elements=elements)
