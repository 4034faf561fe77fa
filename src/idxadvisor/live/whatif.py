"""What-if plan costs with hypothetical indexes (HypoPG), read-only.

>>> # with connect_readonly(url) as db:
>>> #     wi = WhatIf(db)
>>> #     wi.cost("SELECT * FROM hook WHERE status = 'pending'", [candidate]).total_cost

How it stays read-only: ``hypopg_create_index`` only touches the backend's memory, which a
READ ONLY transaction allows; everything runs in such a transaction and is rolled back, and
``hypopg_reset()`` is called after every estimate (or pipelined batch of them) because
hypothetical indexes (like prepared statements) outlive a rollback. HypoPG must already be
installed: creating it is a write, which analysis never does; without it
:attr:`WhatIf.unavailable_reason` says so once.

Every workload text is hostile until checked: before anything is sent, the guard of
:mod:`idxadvisor.sql.statements` must find exactly one SELECT/INSERT/UPDATE/DELETE/MERGE (plain
EXPLAIN executes nothing); a refused text raises :class:`PlanError` with the reason ("not sent to
the server: 3 statements in one text …") and the caller lists it as skipped. What is sent goes
through :func:`~idxadvisor.live.connection.send_one` (extended protocol: the server refuses a
second statement), after :func:`~idxadvisor.live.connection.ensure_read_only` found the
transaction still READ ONLY (once per pipelined transaction: see
:func:`~idxadvisor.live.explain.explain_pipeline`). Candidates are sent to HypoPG only as one
``CREATE INDEX``.

At scale (thousands of queries, tens of thousands of estimates) :meth:`WhatIf.costs` takes
many requests at once and sends what its cache cannot answer in psycopg's pipeline mode, a
few hundred EXPLAINs to a transaction, instead of a dozen round trips each.

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
explain`: ``EXPLAIN (GENERIC_PLAN)`` on PostgreSQL 16+, ``PREPARE`` + ``force_generic_plan`` on 15;
pipelined, :func:`~idxadvisor.live.explain.queue_explain` takes the ``PREPARE`` route on every
version, the simple protocol of ``GENERIC_PLAN`` being refused in a pipeline).
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
import sqlglot
from sqlglot import exp

from idxadvisor.advisor.django_index import create_index_sql
from idxadvisor.advisor.methods import BTREE
from idxadvisor.errors import one_line
from idxadvisor.live.connection import ReadOnlyDatabase, send_one
from idxadvisor.live.explain import (
    Explained,
    cached_refusal,
    explain,
    explain_pipeline,
    plan_error,
    queue_explain,
    statement_ran,
)
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


Request = tuple[str, Sequence[IndexCandidate]]  # a query text and the hypothetical indexes
PIPELINE_BATCH = 400  # EXPLAINs per pipelined transaction: few round trips, short transactions


@dataclass
class WhatIf:
    """What-if costing against one read-only database. Caches per (query, indexes on its tables).

    ``calls`` counts the EXPLAINs actually run, so callers can show how much the cache saved.
    :meth:`costs` takes many requests at once and sends the EXPLAINs the cache cannot answer in
    psycopg's pipeline mode, :data:`PIPELINE_BATCH` to a transaction, instead of a dozen round
    trips each; ``pipelined=False`` sends them one at a time (the reference the pipelined path
    is tested against). A statement the pipeline cannot plan is explained again on its own, so
    its error reads the same either way.
    """

    db: ReadOnlyDatabase
    pipelined: bool = True
    calls: int = 0
    _cache: dict[tuple, PlanEstimate] = field(default_factory=dict)
    # Every EXPLAIN run, by (text, candidate definitions in creation order); failures too.
    _explained: dict[tuple, PlanEstimate | PlanError] = field(default_factory=dict)
    _conditions: dict[tuple[str, str], str] = field(default_factory=dict)
    _hypo: dict[tuple, Hypothetical | CandidateError] = field(default_factory=dict)
    _tables: dict[str, frozenset[str] | None] = field(default_factory=dict)
    _proxy_texts: dict[tuple, str | None] = field(default_factory=dict)

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
            sql = self._checked_sql(candidate)
            if sql is None:
                raise self._hypo[key]  # type: ignore[misc]  # the refusal just stored
            with self.db.transaction() as conn:
                try:
                    with conn.transaction():
                        _run(conn, "SELECT hypopg_reset()")
                        created = _run(conn, _CREATE_SIZED, [sql]).fetchone()
                        assert created is not None  # one row per index created, or an error
                        self._hypo[key] = Hypothetical(candidate, sql, int(created[1]))
                except psycopg.Error as exc:
                    self._hypo[key] = CandidateError(one_line(exc))
                finally:
                    _reset(conn)
        found = self._hypo[key]
        if isinstance(found, CandidateError):
            raise found
        return found

    def check(self, candidates: Sequence[IndexCandidate]) -> None:
        """:meth:`hypothetical` for many candidates, pipelined: afterwards each one's size or
        :class:`CandidateError` is known without another round trip."""
        todo: dict[tuple, tuple[IndexCandidate, str]] = {}
        for c in candidates:
            key = c.definition()
            if key in self._hypo or key in todo:
                continue
            sql = self._checked_sql(c)
            if sql is not None:
                todo[key] = (c, sql)
        if not self.pipelined:
            for c, _ in todo.values():
                with contextlib.suppress(CandidateError):
                    self.hypothetical(c)
            return
        items = list(todo.values())

        def queue(conn: psycopg.Connection, item: tuple, prior: object) -> psycopg.Cursor:
            return _run(conn, _CREATE_SIZED, [item[1]])  # sizes do not depend on the others

        def read(item: tuple[IndexCandidate, str], cursor: psycopg.Cursor) -> None:
            row = cursor.fetchone()
            assert row is not None  # one row per index created, or an error
            self._hypo[item[0].definition()] = Hypothetical(item[0], item[1], int(row[1]))

        def alone(item: tuple[IndexCandidate, str]) -> None:
            with contextlib.suppress(CandidateError):
                self.hypothetical(item[0])  # on its own: PostgreSQL's reason, as one line

        self._pipelined(items, queue, statement_ran, read, lambda conn, sent: None, alone)

    def _checked_sql(self, candidate: IndexCandidate) -> str | None:
        """The candidate's ``CREATE INDEX``, or None (its refusal stored) when it is not one."""
        sql = self.create_sql(candidate)
        if is_create_index(sql):
            return sql
        self._hypo[candidate.definition()] = CandidateError(
            "not sent to the server: not a single CREATE INDEX statement"
        )
        return None

    # -- costs --------------------------------------------------------------------------
    def refusal(self, query_sql: str) -> str | None:
        """The guard's reason not to send ``query_sql``, or None; asked once per text (the
        selection costs each query many times)."""
        return cached_refusal(query_sql)

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
        found = self.costs([(query_sql, hypothetical)])[0]
        if isinstance(found, PlanError):
            raise found
        return found

    def costs(self, requests: Sequence[Request]) -> list[PlanEstimate | PlanError]:
        """:meth:`cost` for many requests at once, in order; a query that cannot be planned
        gives its :class:`PlanError` in its place. What the cache cannot answer is sent in
        batches (see the class docstring)."""
        out: list[PlanEstimate | PlanError | None] = [None] * len(requests)
        sendable = [(i, sql, hypo) for i, (sql, hypo) in enumerate(requests)]
        for i, sql, _ in sendable:
            refused = self.refusal(sql)
            if refused is not None:
                out[i] = PlanError(f"not sent to the server: {refused}")
        sendable = [(i, sql, hypo) for i, sql, hypo in sendable if out[i] is None]
        self.check([c for _, sql, hypo in sendable for c in self._on_tables(sql, hypo)])
        keys: list[tuple[int, tuple]] = []
        missing: dict[tuple, tuple[str, list[IndexCandidate]]] = {}
        for i, sql, hypo in sendable:
            relevant = [c for c in self._on_tables(sql, hypo) if self._creatable(c)]
            relevant.sort(key=lambda c: repr(c.definition()))
            key = (sql, tuple(c.definition() for c in relevant))
            keys.append((i, key))
            if key not in self._cache:
                missing[key] = (sql, relevant)
        if missing:
            self._estimate(missing)
        for i, key in keys:
            out[i] = self._cache.get(key) or self._explained[_raw_key(*missing[key])]
        return [o for o in out if o is not None]

    def _on_tables(self, query_sql: str, hypothetical: Sequence[IndexCandidate]) -> list:
        tables = self.tables_of(query_sql)
        return [c for c in hypothetical if tables is None or c.table in tables]

    def _estimate(self, missing: dict[tuple, tuple[str, list[IndexCandidate]]]) -> None:
        """Fill the cache for ``missing`` (key → text, candidates): the direct EXPLAINs in one
        go, then the column proxies the expression candidates among them need (pitfall 2)."""
        direct = dict(zip(missing, self._explain_all(list(missing.values())), strict=True))
        plans = {
            key: self._proxy_plan(*missing[key], found)
            for key, found in direct.items()
            if isinstance(found, PlanEstimate)
        }
        proxied = {key: p for key, p in plans.items() if isinstance(p, _Proxy)}
        self.check([c for p in proxied.values() for c in p.proxies])
        bases = self.costs([p.base for p in proxied.values()])
        raw = self._explain_all(
            [r for p in proxied.values() for r in (p.proxy_base, p.proxy_after(self))]
        )
        for n, (key, p) in enumerate(proxied.items()):
            found = direct[key]
            assert isinstance(found, PlanEstimate)
            plans[key] = p.estimate(found, bases[n], raw[2 * n], raw[2 * n + 1])
        for key, found in direct.items():
            if isinstance(found, PlanEstimate):
                plan = plans[key]
                self._cache[key] = plan if isinstance(plan, PlanEstimate) else found

    def _explain_all(self, items: Sequence[Request]) -> list[PlanEstimate | PlanError]:
        """Each (text, candidates in creation order) EXPLAINed once, failures kept too."""
        keys = [_raw_key(*it) for it in items]
        todo = {k: it for k, it in zip(keys, items, strict=True) if k not in self._explained}
        if not self.pipelined:
            for key, request in todo.items():
                self._explained[key] = self._explain_alone(*request)
        else:
            # Requests with the same candidates next to each other share their creation.
            requests = [todo[k] for k in sorted(todo, key=lambda k: repr(k[1]))]
            for start in range(0, len(requests), PIPELINE_BATCH):
                self._explain_pipelined(requests[start : start + PIPELINE_BATCH])
        return [self._explained[k] for k in keys]

    def _explain_alone(
        self, query_sql: str, candidates: Sequence[IndexCandidate]
    ) -> PlanEstimate | PlanError:
        try:
            return self._explain_with(query_sql, candidates)
        except PlanError as exc:
            return exc

    def _explain_pipelined(self, requests: Sequence[Request]) -> None:
        """EXPLAIN ``requests`` (sorted by candidates) through :meth:`_pipelined`."""
        created_labels: dict[int, dict[str, IndexCandidate]] = {}

        def queue(conn: psycopg.Connection, request: Request, prior: Request | None) -> tuple:
            query_sql, candidates = request
            created: psycopg.Cursor | None = None
            before = prior[1] if prior is not None else ()  # a pipeline starts with none
            if _defs(before) != _defs(candidates):
                # Each set starts from none: the previous request's indexes go first. The next
                # requests with the same set reuse it (``created`` is None for them).
                if before:
                    _run(conn, "SELECT hypopg_reset()")
                if candidates:
                    sqls = [self.hypothetical(c).sql for c in candidates]
                    created = _run(conn, _CREATE_MANY, [sqls])
            return created, queue_explain(conn, query_sql)

        def ran(sent: tuple) -> bool:
            created, queued = sent
            return (created is None or statement_ran(created)) and queued.done()

        labels: dict[str, IndexCandidate] = {}

        def read(request: Request, sent: tuple) -> None:
            nonlocal labels
            created, queued = sent
            if created is not None:
                if id(created) not in created_labels:
                    oids = [oid for (oid,) in created.fetchall()]
                    created_labels[id(created)] = {
                        f"<{oid}>": c for oid, c in zip(oids, request[1], strict=True)
                    }
                labels = created_labels[id(created)]
            elif not request[1]:
                labels = {}
            self.calls += 1  # an EXPLAIN sent: what the cache exists to save
            self._explained[_raw_key(*request)] = _plan_estimate(queued.explained(), labels)

        def release(conn: psycopg.Connection, sent: tuple) -> None:
            sent[1].release(conn)

        def alone(request: Request) -> None:
            self._explained[_raw_key(*request)] = self._explain_alone(*request)

        self._pipelined(list(requests), queue, ran, read, release, alone)

    def _pipelined(
        self,
        items: list[Any],
        queue: Callable[[psycopg.Connection, Any, Any], Any],
        ran: Callable[[Any], bool],
        read: Callable[[Any, Any], None],
        release: Callable[[psycopg.Connection, Any], None],
        alone: Callable[[Any], None],
    ) -> None:
        """``queue(conn, item, prior_item)`` every item in one pipeline (one READ ONLY
        transaction), sync, then ``read(item, sent)`` each in order. When the server refuses
        one, the rest of that pipeline is not run: the items before it are read, it goes to
        ``alone`` and the items after it to a new pipeline."""
        start = 0
        hypopg = self.available  # asked before any pipeline: it reads the catalog
        while start < len(items):
            batch = items[start:]
            sent: list[Any] = []
            with self.db.transaction() as conn:
                try:
                    with explain_pipeline(conn) as run:
                        for n, item in enumerate(batch):
                            sent.append(queue(conn, item, batch[n - 1] if n else None))
                        if hypopg:  # hypothetical indexes outlive the rollback
                            _run(conn, "SELECT hypopg_reset()")
                    failed = run.error is not None
                except RefusedStatement:  # the transaction is not read-only: nothing was sent
                    failed = True
                done = 0
                for item, s in zip(batch, sent, strict=False):
                    if failed and not ran(s):
                        break
                    read(item, s)
                    done += 1
                if failed:
                    for s in sent[done:]:
                        release(conn, s)
                    if hypopg:
                        _reset(conn)
            start += done
            if failed and start < len(items):
                alone(items[start])
                start += 1

    def _explain_with(self, query_sql: str, candidates: Sequence[IndexCandidate]) -> PlanEstimate:
        """One EXPLAIN in its own transaction (the one-at-a-time path)."""
        with self.db.transaction() as conn:
            labels: dict[str, IndexCandidate] = {}
            try:
                with conn.transaction() as tx:
                    if candidates:
                        # All in one round trip; each text was checked to be one CREATE INDEX.
                        # Every use ends with a reset, so none are left from before.
                        rows = _run(
                            conn, _CREATE_MANY, [[self.hypothetical(c).sql for c in candidates]]
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
        return _plan_estimate(explained, labels)

    # -- pitfall 2 ----------------------------------------------------------------------
    def _proxy_plan(
        self, query_sql: str, candidates: Sequence[IndexCandidate], direct: PlanEstimate
    ) -> _Proxy | PlanEstimate | None:
        """For expression candidates: how to estimate with each expression replaced by its
        column (a :class:`_Proxy`), the direct estimate marked unreliable when no column can
        stand in, or None when no candidate has an expression."""
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
        proxy_sql = self._proxy_text(query_sql, swaps) if swaps else None
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
        return _Proxy(
            query_sql,
            proxy_sql,
            tuple(candidates),
            tuple(_proxy_candidate(c, swaps) for c in candidates),
            tuple(swaps.items()),
        )

    def _proxy_text(self, query_sql: str, swaps: dict[str, str]) -> str | None:
        key = (query_sql, tuple(sorted(swaps.items())))
        if key not in self._proxy_texts:  # sqlglot is slow, and each text comes back often
            self._proxy_texts[key] = _replace_expressions(query_sql, swaps)
        return self._proxy_texts[key]

    def _creatable(self, candidate: IndexCandidate) -> bool:
        try:
            self.hypothetical(candidate)
        except CandidateError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class _Proxy:
    """The column proxy of one estimate (pitfall 2): the same query and indexes with each
    expression replaced by its column, whose statistics exist. Its relative saving is applied
    to the real query's base cost, and never makes things look worse than the direct one."""

    query_sql: str
    proxy_sql: str
    candidates: tuple[IndexCandidate, ...]
    proxies: tuple[IndexCandidate, ...]  # the candidates, expressions replaced
    swaps: tuple[tuple[str, str], ...]  # expression key → column

    @property
    def base(self) -> Request:
        """The real query with the candidates that have no expression."""
        return self.query_sql, [c for c in self.candidates if not _has_expression(c)]

    @property
    def proxy_base(self) -> Request:
        return self.proxy_sql, [
            p for p, c in zip(self.proxies, self.candidates, strict=True) if not _has_expression(c)
        ]

    def proxy_after(self, whatif: WhatIf) -> Request:
        return self.proxy_sql, [p for p in self.proxies if whatif._creatable(p)]

    def estimate(
        self,
        direct: PlanEstimate,
        base: PlanEstimate | PlanError,
        proxy_base: PlanEstimate | PlanError,
        proxy_after: PlanEstimate | PlanError,
    ) -> PlanEstimate | None:
        """The proxied estimate, or None (keep the direct one) when a part cannot be planned."""
        if not isinstance(base, PlanEstimate):
            return None
        if not isinstance(proxy_base, PlanEstimate) or not isinstance(proxy_after, PlanEstimate):
            return None
        if proxy_base.total_cost <= 0:
            return None
        ratio = proxy_after.total_cost / proxy_base.total_cost
        estimated = min(direct.total_cost, base.total_cost * ratio)
        swaps = dict(self.swaps)
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
            back = {p.definition(): c for p, c in zip(self.proxies, self.candidates, strict=True)}
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


_CREATE_SIZED = (
    "SELECT h.indexrelid, hypopg_relation_size(h.indexrelid) FROM hypopg_create_index(%s) h"
)
_CREATE_MANY = (
    "SELECT h.indexrelid FROM unnest(%s::text[]) WITH ORDINALITY "
    "AS s(stmt, n), LATERAL hypopg_create_index(s.stmt) h ORDER BY s.n"
)


def _defs(candidates: Sequence[IndexCandidate]) -> tuple:
    return tuple(c.definition() for c in candidates)


def _raw_key(query_sql: str, candidates: Sequence[IndexCandidate]) -> tuple:
    return query_sql, _defs(candidates)


def _plan_estimate(explained: Explained, labels: dict[str, IndexCandidate]) -> PlanEstimate:
    """The estimate of one EXPLAIN; ``labels`` maps HypoPG's ``<oid>`` names to candidates."""
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
        explained.total_cost, tuple(used_names), tuple(used), generic=explained.generic
    )


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


@functools.lru_cache(maxsize=4096)  # by expression text: asked for every estimate
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


@functools.lru_cache(maxsize=4096)
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
