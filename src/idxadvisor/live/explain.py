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
(it outlives a rollback).

>>> generic_plan_mode(160000), generic_plan_mode(150004)
('GENERIC_PLAN', 'PREPARE')
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql as pgsql

from idxadvisor.errors import one_line
from idxadvisor.live.connection import ensure_read_only, send_one, send_unbound
from idxadvisor.sql.statements import Kind, RefusedStatement, classify, explain_refusal

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
                counted = send_one(
                    conn,
                    "SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                    "WHERE name = %s",
                    [name],
                ).fetchone()
                assert counted is not None  # prepared just above, in this transaction
                args: list[pgsql.Composable] = [pgsql.SQL("NULL")] * int(counted[0] or 0)
            else:
                args = [pgsql.Literal(v) if v is not None else pgsql.SQL("NULL") for v in values]
            call = pgsql.SQL("EXECUTE {}").format(pgsql.Identifier(name))
            if args:
                call = pgsql.SQL("{}({})").format(call, pgsql.SQL(", ").join(args))
            text = f"EXPLAIN ({options}) {call.as_string(conn)}"
            return Explained(_plan(send_one(conn, text)), generic=values is None)
    finally:
        if prepared:
            deallocate(conn, name)


def deallocate(conn: psycopg.Connection, name: str) -> None:
    """Drop a prepared statement this module created (it outlives a rollback). Never raises:
    a session too broken for this fails the caller's next statement, which reports it."""
    with contextlib.suppress(psycopg.Error):
        conn.execute(pgsql.SQL("DEALLOCATE {}").format(pgsql.Identifier(name)))


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
