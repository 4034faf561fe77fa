"""Proof on a database the user allows to change (a staging copy): build the recommended indexes
concurrently, time each query with ``EXPLAIN (ANALYZE, BUFFERS)`` before and after, and drop the
indexes again unless asked to keep them.

Guarantees:

* Only the indexes asked for are built: each statement is rendered from the recommendation's
  candidate and name (never parsed back from text), must be exactly one ``CREATE INDEX``
  (:func:`idxadvisor.sql.statements.is_create_index`), and is sent alone with the extended
  protocol.
* Every workload statement passes the guard of :mod:`idxadvisor.sql.statements` first; a refused
  one (``;``-chains, ``COPY``, DDL, ``SET``, ``DO`` …) is listed with its reason and nothing of it
  is sent. EXPLAIN ANALYZE runs only on one plain SELECT (no data-modifying ``WITH``, no
  ``FOR UPDATE``/``SHARE``), inside a READ ONLY transaction with local timeouts, checked to be
  still read-only before each run, and always rolled back; other statements get a plain
  EXPLAIN (costs, nothing executed), also rolled back. Every EXPLAIN goes through
  :func:`idxadvisor.live.explain.explain`.
* ``$n`` parameters are bound to values from the data (``pg_stats`` most common values and
  histogram bounds of the column compared with, or its own rows without statistics): equality
  matches rows, a range's lower bound is below its upper bound. Rows returned are shown next to
  each timing, and a query returning no rows on both sides is marked "no evidence" instead of a
  speed-up.

>>> # report = verify(url, analysis.advice.recommendations, queries)
>>> # print(report.render())
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlglot
from psycopg import sql
from sqlglot import exp

from idxadvisor.advisor.django_index import create_index_sql
from idxadvisor.errors import DatabaseError, UsageError, one_line
from idxadvisor.live.connection import (
    open_connection,
    query_error,
    send_one,
    session_settings,
)
from idxadvisor.live.explain import explain, plan_error
from idxadvisor.sql.statements import RefusedStatement, explain_refusal, is_create_index
from idxadvisor.types.advice import Recommendation
from idxadvisor.types.workload import Query

_PARAM = re.compile(r"\$(\d+)")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One query on one side (before or after)."""

    cost: float
    indexes: tuple[str, ...]
    time_ms: float | None = None  # median execution time; None when not executed
    buffers: int | None = None  # shared blocks hit + read, from the median run
    rows: int | None = None  # rows the query returned (executed only)


@dataclass(frozen=True, slots=True)
class QueryTiming:
    query_id: str
    sql: str
    executed: bool  # EXPLAIN ANALYZE (a SELECT with bindable parameters)
    before: Measurement | None
    after: Measurement | None
    parameters: str = ""  # how $n were bound, e.g. "$1 = 'pending' (sampled from hook.status)"
    note: str = ""

    @property
    def no_evidence(self) -> bool:
        """Executed, and no rows on either side: an empty result proves no speed-up."""
        return bool(self.before and self.after and self.before.rows == 0 and self.after.rows == 0)

    @property
    def speedup(self) -> float | None:
        if self.no_evidence:
            return None
        if (
            self.before
            and self.after
            and self.before.time_ms
            and self.after.time_ms
            and self.after.time_ms > 0
        ):
            return self.before.time_ms / self.after.time_ms
        return None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    timings: tuple[QueryTiming, ...]
    built: tuple[str, ...]  # indexes this run created
    kept: bool
    failed: tuple[tuple[str, str], ...] = ()  # (index, reason) for builds that failed
    notes: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()  # created by this run

    def render(self) -> str:
        """A plain-text table of real timings, before and after."""
        head = ("query", "before ms", "after ms", "speed-up", "index used after", "note")
        rows = [head]
        for t in self.timings:

            def ms(m: Measurement | None) -> str:
                if m is None:
                    return "-"
                if m.time_ms is None:
                    return f"cost {m.cost:.0f}"
                return (
                    f"{m.time_ms:.2f} ({m.rows} rows)"
                    if m.rows is not None
                    else (f"{m.time_ms:.2f}")
                )

            evidence = "no evidence: 0 rows on both sides" if t.no_evidence else ""
            rows.append(
                (
                    t.query_id,
                    ms(t.before),
                    ms(t.after),
                    f"{t.speedup:.1f}x" if t.speedup else "-",
                    ", ".join(t.after.indexes) if t.after and t.after.indexes else "-",
                    "; ".join(x for x in (evidence, t.parameters, t.note) if x),
                )
            )
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        tail = []
        if self.built:
            tail.append(
                ("kept: " if self.kept else "built and dropped again: ") + ", ".join(self.built)
            )
        tail += [f"failed: {name}: {why}" for name, why in self.failed]
        tail += [
            f"created extension {e}" + ("" if self.kept else ", dropped again")
            for e in self.extensions
        ]
        tail += list(self.notes)
        return "\n".join(lines + tail)


def build_statement(recommendation: Recommendation) -> str:
    """The ``CREATE INDEX CONCURRENTLY`` verify sends for a recommendation, from its structure
    (building concurrently does not block writes on staging either).

    >>> from idxadvisor.types.advice import IndexCandidate
    >>> from idxadvisor.types.schema import IndexElement
    >>> rec = Recommendation(IndexCandidate("hook", (IndexElement("email"),)), "hook_e_idx", "", "")
    >>> build_statement(rec)
    'CREATE INDEX CONCURRENTLY "hook_e_idx" ON "hook" ("email")'
    """
    stmt = create_index_sql(recommendation.candidate, recommendation.name, concurrently=True)
    stmt = stmt.strip().rstrip(";")
    if not recommendation.name or not is_create_index(stmt):
        raise UsageError(
            f"verify only builds named CREATE INDEX statements, one at a time, "
            f"not: {' '.join(stmt.split())[:80]}"
        )
    return stmt


def verify(
    url: str,
    recommendations: Sequence[Recommendation],
    queries: Sequence[Query],
    *,
    keep: bool = False,
    runs: int = 3,
    statement_timeout_ms: int = 60_000,
) -> VerifyReport:
    """Build, measure before/after, drop (unless ``keep``). The database ends as it started even
    when something fails: indexes this run created are dropped in a ``finally``, including the
    INVALID leftover of a failed concurrent build, and so are the extensions the indexes need
    (``pg_trgm`` for a trigram index) it had to create.

    Only the recommended indexes are built (:func:`build_statement`; UsageError for anything
    but one named ``CREATE INDEX``). A query the guard refuses is listed with its reason and
    nothing of it is sent."""
    plans = [(r, build_statement(r)) for r in recommendations]
    extensions = [e for r in recommendations for e in r.extensions]
    conn = open_connection(url, application_name="idxadvisor verify")
    built: list[str] = []
    created: list[str] = []  # extensions this run created
    failed: list[tuple[str, str]] = []
    notes: list[str] = []
    try:
        for setting in session_settings(statement_timeout_ms):
            conn.execute(setting)
        installed = {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}
        for extension in dict.fromkeys(extensions):
            if extension not in installed:
                conn.execute(sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(extension)))
                created.append(extension)
        existing = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = ANY(current_schemas(false))"
            ).fetchall()
        }
        version = conn.info.server_version
        prepared = [_prepare(conn, q) for q in queries]
        before = [_measure(conn, p, runs, statement_timeout_ms, version) for p in prepared]
        analyse_tables: set[str] = set()
        for rec, stmt in plans:
            name = rec.name
            if name in existing:
                notes.append(f"{name} already exists: used as is, not dropped")
                continue
            try:
                conn.execute("SET statement_timeout = 0")  # a build may take long; staging
                send_one(conn, stmt)
                built.append(name)
            except psycopg.Error as exc:
                failed.append((name, one_line(exc)))
                _drop(conn, name)  # the INVALID index a failed concurrent build leaves
            finally:
                conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
            if name in built and any(e.expression for e in rec.candidate.elements):
                analyse_tables.add(rec.table)
        for table in sorted(t for t in analyse_tables if t):
            # Expression indexes get statistics only from ANALYZE; without them the planner
            # would guess and the "after" plan would not be the one production gets.
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
            notes.append(f"ANALYZE {table}: statistics for the new expression index")
        after = [_measure(conn, p, runs, statement_timeout_ms, version) for p in prepared]
    except psycopg.Error as exc:
        raise query_error(url, exc, "verifying") from None
    finally:
        if not keep:
            for name in built:
                _drop(conn, name)
            for extension in reversed(created):
                conn.execute(
                    sql.SQL("DROP EXTENSION IF EXISTS {}").format(sql.Identifier(extension))
                )
        conn.close()
    timings = tuple(
        QueryTiming(
            p.query.id,
            p.query.sql,
            p.executable,
            b[0],
            a[0],
            p.described,
            "; ".join(dict.fromkeys(x for x in (p.note, b[1], a[1]) if x)),
        )
        for p, b, a in zip(prepared, before, after, strict=True)
    )
    return VerifyReport(timings, tuple(built), keep, tuple(failed), tuple(notes), tuple(created))


@dataclass(frozen=True, slots=True)
class _Prepared:
    query: Query
    is_select: bool  # one plain SELECT: EXPLAIN ANALYZE may run it
    values: tuple[str | None, ...] | None  # None: parameters could not be bound
    described: str
    note: str
    refused: str = ""  # why nothing of it is sent (the guard's reason)

    @property
    def executable(self) -> bool:
        return self.is_select and self.values is not None and not self.refused


def _prepare(conn: psycopg.Connection, query: Query) -> _Prepared:
    refused = explain_refusal(query.sql)
    if refused is not None:
        return _Prepared(
            query, False, None, "", f"skipped, not sent to the server: {refused}", refused
        )
    not_executed = explain_refusal(query.sql, analyze=True)
    is_select = not_executed is None
    note = (
        ""
        if is_select
        else f"not a SELECT: plain EXPLAIN (costs only), rolled back ({not_executed})"
    )
    count = max((int(n) for n in _PARAM.findall(query.sql)), default=0)
    if not count:
        return _Prepared(query, is_select, (), "", note)
    try:
        tree = sqlglot.parse_one(query.sql, read="postgres") if is_select else None
    except sqlglot.errors.SqlglotError:
        tree = None
    if tree is None:
        return _Prepared(query, is_select, None, "", note)
    values, described = _bind_parameters(conn, tree, count)
    if values is None:
        note = "parameters could not be bound to sample values: generic plan (costs only)"
    return _Prepared(query, is_select, values, described, note)


def _measure(
    conn: psycopg.Connection,
    p: _Prepared,
    runs: int,
    statement_timeout_ms: int,
    server_version: int,
) -> tuple[Measurement | None, str]:
    """One side's measurement, in a READ ONLY transaction that is always rolled back."""
    if p.refused:
        return None, ""
    try:
        conn.execute("BEGIN READ ONLY")
        conn.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
        conn.execute(f"SET LOCAL lock_timeout = {int(statement_timeout_ms)}")
        if not p.executable:
            found = explain(conn, p.query.sql, server_version=server_version)
            return Measurement(found.total_cost, found.index_names), ""
        samples = [
            explain(
                conn,
                p.query.sql,
                server_version=server_version,
                analyze=True,
                values=p.values or None,
            )
            for _ in range(max(1, runs))
        ]
        samples.sort(key=lambda e: e.plan["Execution Time"])
        median = samples[len(samples) // 2]
        node = median.root
        buffers = int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))
        return Measurement(
            median.total_cost,
            median.index_names,
            statistics.median(e.plan["Execution Time"] for e in samples),
            buffers,
            int(node.get("Actual Rows", 0)) * max(1, int(node.get("Actual Loops", 1))),
        ), ""
    except psycopg.Error as exc:
        return None, f"failed: {plan_error(exc, p.query.sql)}"
    except RefusedStatement as exc:
        return None, f"stopped: {exc}"
    finally:
        _end_measurement(conn)


def _end_measurement(conn: psycopg.Connection) -> None:
    """Roll back; a broken session is reported, not raised as a traceback."""
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error as exc:
        raise DatabaseError(f"verify: could not roll back a measurement: {one_line(exc)}") from None


# -- binding $n to real values -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Role:
    """How a parameter is compared with its column: ``eq`` (``=``, ``IN``), ``lower``
    (``col >= $n``), ``upper`` (``col < $n``), ``like``; ``rank`` tells apart the values of
    one ``IN`` list."""

    table: str
    column: str
    role: str
    rank: int = 0


def _bind_parameters(
    conn: psycopg.Connection, tree: exp.Expr, count: int
) -> tuple[tuple[str | None, ...] | None, str]:
    """A value for each ``$n`` from the data, so the query returns rows: equality gets a
    most common value (distinct ones for an ``IN`` list), a range gets histogram bounds with the
    lower one below the upper one, LIKE a prefix of a common value."""
    aliases = {}
    for t in tree.find_all(exp.Table):
        aliases[t.alias_or_name] = t.name
        aliases[t.name] = t.name
    only_table = next(iter(set(aliases.values()))) if len(set(aliases.values())) == 1 else None
    roles: dict[int, _Role | str] = {}
    ranks: dict[tuple[str, str], int] = {}
    for node in tree.find_all(exp.Parameter, exp.Placeholder):
        n = _param_number(node)
        if n is None or n in roles:
            continue
        role = _role_of(node, aliases, only_table)
        if role is None:
            return None, ""
        if isinstance(role, _Role) and role.role == "eq":
            key = (role.table, role.column)
            role = _Role(role.table, role.column, "eq", ranks.get(key, 0))
            ranks[key] = role.rank + 1
        roles[n] = role
    if set(roles) != set(range(1, count + 1)):
        return None, ""
    stats: dict[tuple[str, str], _ColumnValues | None] = {}
    values: dict[int, str | None] = {}
    described: dict[int, str] = {}
    for n, role in sorted(roles.items()):
        if isinstance(role, str):  # LIMIT / OFFSET
            values[n] = "100" if role == "LIMIT" else "0"
            described[n] = f"${n} = {values[n]} ({role} {values[n]})"
            continue
        key = (role.table, role.column)
        if key not in stats:
            stats[key] = _column_values(conn, role.table, role.column)
        found = stats[key]
        if found is None:
            return None, ""
        value, how = found.pick(role)
        values[n] = value
        described[n] = f"${n} = {_show(value)} ({how} {role.table}.{role.column})"
    return (
        tuple(values[i] for i in range(1, count + 1)),
        ", ".join(described[i] for i in sorted(described)),
    )


def _param_number(node: exp.Expr) -> int | None:
    text = node.sql(dialect="postgres", comments=False)  # a comment may stick to it
    m = re.fullmatch(r"\$(\d+)", text.strip())
    return int(m.group(1)) if m else None


def _role_of(node: exp.Expr, aliases: dict[str, str], only_table: str | None) -> _Role | str | None:
    child = node
    parent = node.parent
    while isinstance(
        parent, exp.Paren | exp.Cast | exp.Tuple | exp.Anonymous | exp.Func
    ) and not isinstance(parent, exp.In | exp.Like | exp.ILike):
        child, parent = parent, parent.parent
    if isinstance(parent, exp.Limit | exp.Fetch):
        return "LIMIT"
    if isinstance(parent, exp.Offset):
        return "OFFSET"
    if not isinstance(parent, exp.Binary | exp.In | exp.Between | exp.Like | exp.ILike):
        return None
    column = next((c for c in parent.find_all(exp.Column)), None)
    if column is None:
        return None
    table = aliases.get(column.table) if column.table else only_table
    if table is None:
        return None
    if isinstance(parent, exp.Like | exp.ILike):
        return _Role(table, column.name, "like")
    if isinstance(parent, exp.Between):
        return _Role(table, column.name, "upper" if child is parent.args.get("high") else "lower")
    on_right = child is parent.expression
    if isinstance(parent, exp.GT | exp.GTE):
        return _Role(table, column.name, "lower" if on_right else "upper")
    if isinstance(parent, exp.LT | exp.LTE):
        return _Role(table, column.name, "upper" if on_right else "lower")
    return _Role(table, column.name, "eq")


@dataclass(frozen=True, slots=True)
class _ColumnValues:
    """Values of one column from ``pg_stats`` (or, without statistics, from its rows)."""

    common: tuple[str, ...]  # most common first
    bounds: tuple[str, ...]  # ascending, in the column type's order
    source: str

    def pick(self, role: _Role) -> tuple[str, str]:
        if role.role in ("eq", "like"):
            pool = self.common or self.bounds[len(self.bounds) // 2 :] + self.bounds
            value = pool[min(role.rank, len(pool) - 1)]
            if role.role == "like":
                return value[:3] + "%", f"prefix of a {self.source} value of"
            return value, f"{self.source} value of"
        lower, upper = self._range()
        if role.role == "lower":
            return lower, f"lower bound from the {self.source} of"
        return upper, f"upper bound from the {self.source} of"

    def _range(self) -> tuple[str, str]:
        """A lower bound strictly below the upper one, both inside the data."""
        b = self.bounds
        lower, upper = b[len(b) // 4], b[(3 * len(b)) // 4]
        if lower == upper:
            lower, upper = b[0], b[-1]
        return lower, upper


def _column_values(conn: psycopg.Connection, table: str, column: str) -> _ColumnValues | None:
    row = send_one(
        conn,
        (
            "SELECT most_common_vals::text::text[], histogram_bounds::text::text[] FROM pg_stats "
            "WHERE tablename = %s AND attname = %s AND schemaname = ANY(current_schemas(false)) "
            "LIMIT 1"
        ),
        [table, column],
    ).fetchone()
    common = tuple(v for v in (row[0] or ()) if v is not None) if row else ()
    bounds = tuple(v for v in (row[1] or ()) if v is not None) if row else ()
    if bounds:
        return _ColumnValues(common, bounds, "pg_stats histogram" if not common else "pg_stats")
    # No histogram (a column of few values, or a table never analysed): its own rows, in
    # the column type's order, give the bounds.
    query = sql.SQL(
        "SELECT (percentile_disc(ARRAY[0, 0.25, 0.5, 0.75, 1]) WITHIN GROUP (ORDER BY v))"
        "::text[] FROM (SELECT {c} AS v FROM {t} WHERE {c} IS NOT NULL LIMIT 10000) s"
    ).format(c=sql.Identifier(column), t=sql.Identifier(table))
    try:
        found = send_one(conn, query.as_string(conn)).fetchone()
    except psycopg.Error:
        return _ColumnValues(common, common, "pg_stats") if common else None
    sampled = tuple(dict.fromkeys(v for v in (found[0] or ()) if v is not None)) if found else ()
    if not sampled and not common:
        return None
    return _ColumnValues(common, sampled or common, "sampled" if not common else "pg_stats")


# -- helpers -------------------------------------------------------------------------------
def _drop(conn: psycopg.Connection, name: str) -> None:
    try:
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise DatabaseError(f"could not drop index {name} again: {one_line(exc)}") from None


def _show(value: Any) -> str:
    return "NULL" if value is None else "'" + str(value)[:40].replace("'", "''") + "'"
