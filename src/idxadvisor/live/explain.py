"""EXPLAIN one workload statement: the one place a workload text reaches the server.

Every text is hostile until checked. :func:`explain` first asks the guard of
:mod:`idxadvisor.sql.statements` for exactly one SELECT/INSERT/UPDATE/DELETE/MERGE (``analyze``:
one plain SELECT), checks the transaction is still READ ONLY, and sends it through
:func:`~idxadvisor.live.connection.send_one` (extended protocol: the server refuses a second
statement; :func:`~idxadvisor.live.connection.send_unbound` for ``GENERIC_PLAN``, whose ``$n``
the extended protocol would bind). The caller owns the transaction and rolls it back.

Statements with ``$n`` parameters:

* with ``values``: ``PREPARE`` + ``EXPLAIN EXECUTE`` with those values as literals (verify binds
  values from the data, so EXPLAIN ANALYZE returns rows);
* without: the generic plan — ``EXPLAIN (GENERIC_PLAN)`` on PostgreSQL 16+, else ``PREPARE`` +
  ``plan_cache_mode = force_generic_plan`` + ``EXPLAIN EXECUTE`` with NULLs (a generic plan
  does not look at the values).

A fresh ``PREPARE`` each time: a cached plan would not see new (hypothetical) indexes, which
send no invalidation. The prepared statement is deallocated before returning, even on error
(it outlives a rollback). The ``$n`` count for the NULLs comes from the statement lexer
(:func:`parameter_count`), not from a round trip to ``pg_prepared_statements``.

Many EXPLAINs at once (what-if selection sends tens of thousands): inside
:func:`explain_pipeline`, :func:`queue_explain` sends one statement's EXPLAIN in psycopg's
pipeline mode without waiting for it, and :meth:`Queued.explained` reads it after the sync.
The guard is the same, each text is still one extended-protocol statement, and the READ ONLY
check runs once, before anything is queued, for the whole transaction (see
:func:`explain_pipeline`). Parameterised statements always take the ``PREPARE`` route there:
the simple protocol that ``GENERIC_PLAN`` needs is not allowed in a pipeline.

>>> generic_plan_mode(160000), generic_plan_mode(150004)
('GENERIC_PLAN', 'PREPARE')
>>> parameter_count("SELECT * FROM t WHERE a = $2 AND b = '$7' /* $9 */ AND c = $1")
2
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql as pgsql

from idxadvisor.errors import one_line
from idxadvisor.live.connection import ensure_read_only, send_one, send_unbound
from idxadvisor.sql.statements import Kind, RefusedStatement, classify, explain_refusal, tokens

_PARAM = re.compile(r"\$\d+")
_counter = itertools.count(1)
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass(frozen=True, slots=True)
class Explained:
    """One EXPLAIN (FORMAT JSON) result."""

    plan: dict[str, Any]  # the top object: "Plan", and "Execution Time" with ANALYZE
    generic: bool = False  # a generic plan ($n parameters, no values)

    @property
    def root(self) -> dict[str, Any]:
        return self.plan["Plan"]

    @property
    def total_cost(self) -> float:
        return float(self.root["Total Cost"])

    @property
    def index_names(self) -> tuple[str, ...]:
        """Every index the plan scans, in plan order, once each."""
        return tuple(dict.fromkeys(index_names(self.root)))


def generic_plan_mode(server_version: int) -> str:
    """How a generic plan is obtained on this server: ``GENERIC_PLAN`` (16+) or ``PREPARE``."""
    return "GENERIC_PLAN" if server_version >= 160000 else "PREPARE"


def has_parameters(query_sql: str) -> bool:
    """Whether the text has ``$n`` placeholders.

    >>> has_parameters("SELECT 1 FROM t WHERE a = $1"), has_parameters("SELECT '$1'")
    (True, True)
    """
    return bool(_PARAM.search(query_sql))


@functools.lru_cache(maxsize=65536)  # by text: what-if selection explains each text often
def cached_refusal(query_sql: str) -> str | None:
    """:func:`~idxadvisor.sql.statements.explain_refusal` (plain EXPLAIN), once per text."""
    return explain_refusal(query_sql)


@functools.lru_cache(maxsize=65536)
def parameter_count(query_sql: str) -> int:
    """How many parameters PostgreSQL gives the statement: its highest ``$n`` outside quotes
    and comments, as the server's own parse counts them (``$2`` alone still makes two)."""
    toks, _ = tokens(query_sql)
    return max((int(t.text[1:]) for t in toks if t.kind == "param"), default=0)


def explain(
    conn: psycopg.Connection,
    query_sql: str,
    *,
    server_version: int,
    analyze: bool = False,
    values: Sequence[str | None] | None = None,
) -> Explained:
    """The plan of exactly one workload statement, inside the caller's READ ONLY transaction.

    Raises :class:`RefusedStatement` when the guard refuses the text (nothing is sent) and
    ``psycopg.Error`` when the server does (see :func:`plan_error` for the message).
    ``analyze`` runs it (``EXPLAIN (ANALYZE, BUFFERS)``): only ever a plain SELECT.
    """
    refused = explain_refusal(query_sql, analyze=analyze)
    if refused is not None:
        raise RefusedStatement(refused)
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    ensure_read_only(conn)
    if not has_parameters(query_sql):
        return Explained(_plan(send_one(conn, f"EXPLAIN ({options}) {query_sql}")))
    if values is None and not analyze and server_version >= 160000:
        row = send_unbound(conn, f"EXPLAIN (GENERIC_PLAN, {options}) {query_sql}")
        return Explained(_plan(row), generic=True)
    name = f"idxadvisor_x{next(_counter)}"
    prepared = False
    try:
        # A savepoint: when the server refuses, the caller's transaction stays usable, so the
        # prepared statement can be deallocated here rather than leak into the session.
        with conn.transaction():
            if values is None:
                send_one(conn, "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
            send_one(conn, f"PREPARE {name} AS {query_sql}")  # parses and plans, runs nothing
            prepared = True
            if values is None:
                args: list[pgsql.Composable] = [pgsql.SQL("NULL")] * parameter_count(query_sql)
            else:
                args = [pgsql.Literal(v) if v is not None else pgsql.SQL("NULL") for v in values]
            text = f"EXPLAIN ({options}) {_execute(conn, name, args)}"
            return Explained(_plan(send_one(conn, text)), generic=values is None)
    finally:
        if prepared:
            deallocate(conn, name)


def _execute(conn: psycopg.Connection, name: str, args: Sequence[pgsql.Composable]) -> str:
    call = pgsql.SQL("EXECUTE {}").format(pgsql.Identifier(name))
    if args:
        call = pgsql.SQL("{}({})").format(call, pgsql.SQL(", ").join(args))
    return call.as_string(conn)


@dataclass
class PipelineRun:
    """What :func:`explain_pipeline` saw: the error that stopped the pipeline, if any."""

    error: Exception | None = None


@contextmanager
def explain_pipeline(conn: psycopg.Connection) -> Iterator[PipelineRun]:
    """A pipeline for :func:`queue_explain`, in a savepoint of the caller's READ ONLY
    transaction that is rolled back at the end (it holds the ``force_generic_plan`` setting).
    Everything queued in the block is sent and its results are in the cursors on leaving it.

    The transaction is checked READ ONLY once, here, before anything is queued: PostgreSQL
    refuses to make a transaction read-write once it has run a statement, and nothing queued
    runs workload text (plain EXPLAIN and PREPARE execute nothing), so the check would give
    the same answer before each statement. When the server refuses a statement, the ones
    after it are not run (see :meth:`Queued.done`): the error is kept in the
    :class:`PipelineRun`, not raised, and the savepoint is still rolled back.
    """
    ensure_read_only(conn)
    run = PipelineRun()
    with conn.pipeline() as pipeline, conn.transaction() as tx:
        send_one(conn, "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
        try:
            yield run
            pipeline.sync()
        except (psycopg.Error, RefusedStatement) as exc:
            run.error = exc
            # Reads the aborted rest, so that the savepoint can be rolled back.
            with contextlib.suppress(psycopg.Error):
                pipeline.sync()
        raise psycopg.Rollback(tx)


@dataclass(frozen=True, slots=True)
class Queued:
    """One EXPLAIN sent in pipeline mode; its cursors hold the results after the sync."""

    explain: psycopg.Cursor
    prepared: str | None = None  # the prepared statement's name ($n parameters)
    prepare: psycopg.Cursor | None = None
    deallocate: psycopg.Cursor | None = None

    def done(self) -> bool:
        """Whether the EXPLAIN ran (a failure before it in the pipeline skips it)."""
        return statement_ran(self.explain)

    def explained(self) -> Explained:
        return Explained(_plan(self.explain), generic=self.prepared is not None)

    def release(self, conn: psycopg.Connection) -> None:
        """Deallocate the prepared statement when the pipeline stopped before its DEALLOCATE
        (it outlives a rollback). Call after the pipeline has ended."""
        prepared = self.prepare is not None and statement_ran(self.prepare)
        dropped = self.deallocate is not None and statement_ran(self.deallocate)
        if self.prepared and prepared and not dropped:
            deallocate(conn, self.prepared)


def queue_explain(conn: psycopg.Connection, query_sql: str) -> Queued:
    """Queue the (generic-plan) EXPLAIN of one workload statement inside
    :func:`explain_pipeline`. Raises :class:`RefusedStatement` when the guard refuses the text
    (nothing is sent), and ``psycopg.Error`` when an earlier statement of the pipeline failed."""
    refused = cached_refusal(query_sql)
    if refused is not None:
        raise RefusedStatement(refused)
    if not has_parameters(query_sql):
        return Queued(send_one(conn, f"EXPLAIN (FORMAT JSON) {query_sql}"))
    name = f"idxadvisor_x{next(_counter)}"
    prepare = send_one(conn, f"PREPARE {name} AS {query_sql}")  # parses, runs nothing
    args = [pgsql.SQL("NULL")] * parameter_count(query_sql)
    explained = send_one(conn, f"EXPLAIN (FORMAT JSON) {_execute(conn, name, args)}")
    dropped = send_one(conn, _deallocation(name).as_string(conn))
    return Queued(explained, name, prepare, dropped)


def statement_ran(cursor: psycopg.Cursor) -> bool:
    """Whether the statement behind ``cursor`` ran (in a pipeline, a failure skips the rest)."""
    result = cursor.pgresult
    return result is not None and result.status in (
        psycopg.pq.ExecStatus.TUPLES_OK,
        psycopg.pq.ExecStatus.COMMAND_OK,
    )


def deallocate(conn: psycopg.Connection, name: str) -> None:
    """Drop a prepared statement this module created (it outlives a rollback). Never raises:
    a session too broken for this fails the caller's next statement, which reports it."""
    with contextlib.suppress(psycopg.Error):
        conn.execute(_deallocation(name))


def _deallocation(name: str) -> pgsql.Composed:
    return pgsql.SQL("DEALLOCATE {}").format(pgsql.Identifier(name))


def plan_error(exc: psycopg.Error, query_sql: str) -> str:
    """The server's refusal as one line, with what to do when it is a missing privilege.

    PostgreSQL checks the write privilege of an UPDATE/DELETE/INSERT/MERGE even for a plain
    EXPLAIN, though nothing runs: a role with SELECT only cannot plan it.
    """
    text = one_line(exc)
    if getattr(exc, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
        return text
    info = classify(query_sql)
    verb = {
        Kind.UPDATE: "UPDATE",
        Kind.DELETE: "DELETE",
        Kind.INSERT: "INSERT",
        Kind.MERGE: "UPDATE",
    }.get(info.kind)
    if verb is None:
        return text
    table = _target_table(query_sql) or "the table"
    return (
        f"{text}: EXPLAIN of an {verb} on {table} needs the {verb} privilege, though "
        f"nothing is executed (GRANT {verb} ON {table} TO role)"
    )


def _target_table(query_sql: str) -> str | None:
    """The table an UPDATE/DELETE/INSERT/MERGE writes, as written."""
    m = re.search(
        r"\b(?:UPDATE|DELETE\s+FROM|INSERT\s+INTO|MERGE\s+INTO)\s+(?:ONLY\s+)?"
        r"(\"(?:[^\"]|\"\")+\"|[\w$.]+)",
        query_sql,
        re.I,
    )
    return m.group(1) if m else None


def _plan(cursor: psycopg.Cursor) -> dict[str, Any]:
    row = cursor.fetchone()
    assert row is not None  # EXPLAIN always returns its one row
    value = row[0]
    if isinstance(value, str):
        value = json.loads(value)
    return value[0]


def index_names(node: dict[str, Any]) -> Iterable[str]:
    """Index names in a plan node and its children (hypothetical ones as ``<oid>…``)."""
    if "Index Name" in node:
        yield node["Index Name"]
    for child in node.get("Plans", ()):
        yield from index_names(child)
