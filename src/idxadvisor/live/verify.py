"""Proof on a database the user allows to change (a staging copy): build the recommended indexes
concurrently, time each query with ``EXPLAIN (ANALYZE, BUFFERS)`` before and after, and drop the
indexes again unless asked to keep them.

Only SELECT statements are executed, each inside a READ ONLY transaction that is rolled back;
any other statement gets a plain EXPLAIN (costs, no timings), also rolled back. ``$n``
parameters are bound to values taken from the table itself (a sampled row, or the middle of the
``pg_stats`` histogram for a range), and the report says which.

>>> # report = verify(url, [("hook_retry_idx", "CREATE INDEX CONCURRENTLY ...")], queries)
>>> # print(report.render())
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlglot
from psycopg import sql
from sqlglot import exp

from idxadvisor.errors import DatabaseError, UsageError
from idxadvisor.live.connection import TOOL_MARK, connect_error, query_error
from idxadvisor.live.whatif import _index_names, _plan_json
from idxadvisor.workload import Query

_CREATE_INDEX = re.compile(
    r"^\s*CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?P<conc>CONCURRENTLY\s+)?"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>\"(?:[^\"]|\"\")+\"|[A-Za-z_][\w$]*)\s+ON\s",
    re.I,
)
_PARAM = re.compile(r"\$(\d+)")
_counter = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One query on one side (before or after)."""

    cost: float
    indexes: tuple[str, ...]
    time_ms: float | None = None  # median execution time; None when not executed
    buffers: int | None = None  # shared blocks hit + read, from the median run


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
    def speedup(self) -> float | None:
        if (self.before and self.after and self.before.time_ms and self.after.time_ms
                and self.after.time_ms > 0):
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
                return f"{m.time_ms:.2f}" if m.time_ms is not None else f"cost {m.cost:.0f}"

            rows.append((
                t.query_id, ms(t.before), ms(t.after),
                f"{t.speedup:.1f}x" if t.speedup else "-",
                ", ".join(t.after.indexes) if t.after and t.after.indexes else "-",
                "; ".join(x for x in (t.parameters, t.note) if x),
            ))
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        tail = []
        if self.built:
            tail.append(("kept: " if self.kept else "built and dropped again: ")
                        + ", ".join(self.built))
        tail += [f"failed: {name}: {why}" for name, why in self.failed]
        tail += [f"created extension {e}" + ("" if self.kept else ", dropped again")
                 for e in self.extensions]
        tail += list(self.notes)
        return "\n".join(lines + tail)


def index_name(create_sql: str) -> str:
    """The index name of a ``CREATE INDEX`` statement (UsageError for anything else).

    >>> index_name('CREATE INDEX CONCURRENTLY "hook_retry_idx" ON "hook" ("next_retry_at")')
    'hook_retry_idx'
    """
    m = _CREATE_INDEX.match(create_sql)
    if not m:
        raise UsageError(f"verify only builds named CREATE INDEX statements, not: "
                         f"{' '.join(create_sql.split())[:80]}")
    name = m.group("name")
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def concurrent(create_sql: str) -> str:
    """The statement with CONCURRENTLY, so building does not block writes on staging either."""
    m = _CREATE_INDEX.match(create_sql)
    if m is None or m.group("conc"):
        return create_sql.strip().rstrip(";")
    head = create_sql[: m.start("name")]
    head = re.sub(r"INDEX\s+(IF\s+NOT\s+EXISTS\s+)?$", "INDEX CONCURRENTLY ", head, flags=re.I)
    return (head + create_sql[m.start("name"):]).strip().rstrip(";")


def verify(url: str, recommendations_sql: Sequence[tuple[str, str]], queries: Sequence[Query],
           *, keep: bool = False, runs: int = 3, extensions: Sequence[str] = (),
           statement_timeout_ms: int = 60_000) -> VerifyReport:
    """Build, measure before/after, drop (unless ``keep``). The database ends as it started even
    when something fails: indexes this run created are dropped in a ``finally``, including the
    INVALID leftover of a failed concurrent build, and so are the ``extensions`` (``pg_trgm``
    for a trigram index) it had to create."""
    plans = [(name, concurrent(stmt)) for name, stmt in recommendations_sql]
    for name, stmt in plans:
        if index_name(stmt) != name:
            raise UsageError(f"the statement for {name} creates {index_name(stmt)}")
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10,
                               application_name="idxadvisor verify")
    except psycopg.Error as exc:
        raise connect_error(url, exc) from None
    built: list[str] = []
    created: list[str] = []  # extensions this run created
    failed: list[tuple[str, str]] = []
    notes: list[str] = []
    try:
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        installed = {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}
        for extension in dict.fromkeys(extensions):
            if extension not in installed:
                conn.execute(sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(extension)))
                created.append(extension)
        existing = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = ANY(current_schemas(false))"
        ).fetchall()}
        prepared = [_prepare(conn, q) for q in queries]
        before = [_measure(conn, p, runs) for p in prepared]
        analyse_tables: set[str] = set()
        for name, stmt in plans:
            if name in existing:
                notes.append(f"{name} already exists: used as is, not dropped")
                continue
            try:
                conn.execute("SET statement_timeout = 0")  # a build may take long; staging
                conn.execute(stmt)
                built.append(name)
            except psycopg.Error as exc:
                failed.append((name, _one_line(exc)))
                _drop(conn, name)  # the INVALID index a failed concurrent build leaves
            finally:
                conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
            if name in built and _has_expression(stmt):
                analyse_tables.add(_table_of(stmt))
        for table in sorted(t for t in analyse_tables if t):
            # Expression indexes get statistics only from ANALYZE; without them the planner
            # would guess and the "after" plan would not be the one production gets.
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
            notes.append(f"ANALYZE {table}: statistics for the new expression index")
        after = [_measure(conn, p, runs) for p in prepared]
    except psycopg.Error as exc:
        raise query_error(url, exc, "verifying") from None
    finally:
        if not keep:
            for name in built:
                _drop(conn, name)
            for extension in reversed(created):
                conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {}").format(
                    sql.Identifier(extension)))
        conn.close()
    timings = tuple(
        QueryTiming(p.query.id, p.query.sql, p.executable, b[0], a[0], p.described,
                    "; ".join(dict.fromkeys(x for x in (p.note, b[1], a[1]) if x)))
        for p, b, a in zip(prepared, before, after, strict=True)
    )
    return VerifyReport(timings, tuple(built), keep, tuple(failed), tuple(notes), tuple(created))


@dataclass(frozen=True, slots=True)
class _Prepared:
    query: Query
    is_select: bool
    values: tuple[str | None, ...] | None  # None: parameters could not be bound
    described: str
    note: str

    @property
    def executable(self) -> bool:
        return self.is_select and self.values is not None


def _prepare(conn: psycopg.Connection, query: Query) -> _Prepared:
    try:
        tree = sqlglot.parse_one(query.sql, read="postgres")
    except sqlglot.errors.SqlglotError:
        tree = None
    is_select = _is_plain_select(tree, query.sql)
    note = "" if is_select else "not a SELECT: plain EXPLAIN (costs only), rolled back"
    count = max((int(n) for n in _PARAM.findall(query.sql)), default=0)
    if not count:
        return _Prepared(query, is_select, (), "", note)
    if not is_select or tree is None:
        return _Prepared(query, is_select, None, "", note)
    values, described = _bind_parameters(conn, tree, count)
    if values is None:
        note = "parameters could not be bound to sample values: generic plan (costs only)"
    return _Prepared(query, is_select, values, described, note)


def _is_plain_select(tree: exp.Expression | None, text: str) -> bool:
    if tree is None:
        return False
    if not isinstance(tree, exp.Select | exp.Union | exp.Intersect | exp.Except):
        return False
    # A data-modifying CTE or a locking clause would change rows or take row locks.
    if any(tree.find_all(exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Lock)):
        return False
    return not re.search(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY|KEY)\b", text, re.I)


def _measure(conn: psycopg.Connection, p: _Prepared,
             runs: int) -> tuple[Measurement | None, str]:
    stmt = f"idxadvisor_v{next(_counter)}"
    try:
        conn.execute("BEGIN READ ONLY")
        if p.values is None or not p.executable:
            if _PARAM.search(p.query.sql):
                conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                conn.execute(f"PREPARE {stmt} AS {p.query.sql}")
                (n,) = conn.execute("SELECT cardinality(parameter_types) FROM "
                                    "pg_prepared_statements WHERE name = %s", [stmt]).fetchone()
                target = f"EXECUTE {stmt}({', '.join(['NULL'] * int(n or 0))})"
            else:
                target = p.query.sql
            plan = _plan_json(conn.execute(f"{TOOL_MARK} EXPLAIN (FORMAT JSON) {target}")
                              .fetchone())
            return Measurement(float(plan["Plan"]["Total Cost"]),
                               tuple(dict.fromkeys(_index_names(plan["Plan"])))), ""
        if p.values:
            args = sql.SQL(", ").join(
                sql.Literal(v) if v is not None else sql.SQL("NULL") for v in p.values)
            conn.execute(f"PREPARE {stmt} AS {p.query.sql}")
            target = sql.SQL("EXECUTE {}({})").format(sql.Identifier(stmt), args).as_string(conn)
        else:
            target = p.query.sql
        samples = []
        for _ in range(max(1, runs)):
            plan = _plan_json(conn.execute(
                f"{TOOL_MARK} EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {target}").fetchone())
            samples.append(plan)
        samples.sort(key=lambda pl: pl["Execution Time"])
        median = samples[len(samples) // 2]
        node = median["Plan"]
        buffers = int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))
        return Measurement(
            float(node["Total Cost"]), tuple(dict.fromkeys(_index_names(node))),
            statistics.median(pl["Execution Time"] for pl in samples), buffers,
        ), ""
    except psycopg.Error as exc:
        return None, f"failed: {_one_line(exc)}"
    finally:
        conn.execute("ROLLBACK")
        if conn.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s",
                        [stmt]).fetchone():
            conn.execute(f"DEALLOCATE {stmt}")


# -- binding $n to real values -----------------------------------------------------------
def _bind_parameters(conn: psycopg.Connection, tree: exp.Expression,
                     count: int) -> tuple[tuple[str | None, ...] | None, str]:
    aliases = {}
    for t in tree.find_all(exp.Table):
        aliases[t.alias_or_name] = t.name
        aliases[t.name] = t.name
    only_table = next(iter(set(aliases.values()))) if len(set(aliases.values())) == 1 else None
    values: dict[int, str | None] = {}
    described: dict[int, str] = {}
    for node in tree.find_all(exp.Parameter, exp.Placeholder):
        n = _param_number(node)
        if n is None or n in values:
            continue
        value, how = _value_for(conn, node, aliases, only_table)
        if how is None:
            return None, ""
        values[n] = value
        described[n] = f"${n} = {_show(value)} ({how})"
    if set(values) != set(range(1, count + 1)):
        return None, ""
    return (tuple(values[i] for i in range(1, count + 1)),
            ", ".join(described[i] for i in sorted(described)))


def _param_number(node: exp.Expression) -> int | None:
    text = node.sql(dialect="postgres")
    m = re.fullmatch(r"\$(\d+)", text)
    return int(m.group(1)) if m else None


def _value_for(conn: psycopg.Connection, node: exp.Expression, aliases: dict[str, str],
               only_table: str | None) -> tuple[str | None, str | None]:
    parent = node.parent
    while isinstance(parent, exp.Paren | exp.Cast | exp.Tuple | exp.Anonymous | exp.Func) \
            and not isinstance(parent, exp.In | exp.Like | exp.ILike):
        parent = parent.parent
    if isinstance(parent, exp.Limit | exp.Fetch):
        return "100", "LIMIT 100"
    if isinstance(parent, exp.Offset):
        return "0", "OFFSET 0"
    column = None
    if isinstance(parent, exp.Binary | exp.In | exp.Between | exp.Like | exp.ILike):
        column = next((c for c in parent.find_all(exp.Column)), None)
    if column is None:
        return None, None
    table = aliases.get(column.table) if column.table else only_table
    if table is None:
        return None, None
    ranged = isinstance(parent, exp.GT | exp.GTE | exp.LT | exp.LTE | exp.Between)
    value = _sample(conn, table, column.name, ranged)
    if value is None:
        return None, None
    if isinstance(parent, exp.Like | exp.ILike):
        return value[:3] + "%", f"prefix of a value sampled from {table}.{column.name}"
    how = "middle of the pg_stats histogram of" if ranged else "sampled from"
    return value, f"{how} {table}.{column.name}"


def _sample(conn: psycopg.Connection, table: str, column: str, ranged: bool) -> str | None:
    if ranged:
        row = conn.execute(
            "SELECT (histogram_bounds::text::text[])[cardinality(histogram_bounds::text::text[])"
            " / 2 + 1] FROM pg_stats WHERE tablename = %s AND attname = %s "
            "AND schemaname = ANY(current_schemas(false))", [table, column]).fetchone()
        if row and row[0] is not None:
            return row[0]
    query = sql.SQL(
        TOOL_MARK + " SELECT {c}::text FROM {t} TABLESAMPLE SYSTEM (10) REPEATABLE (42) "
        "WHERE {c} IS NOT NULL LIMIT 1"
    ).format(c=sql.Identifier(column), t=sql.Identifier(table))
    fallback = sql.SQL(
        TOOL_MARK + " SELECT {c}::text FROM {t} WHERE {c} IS NOT NULL LIMIT 1"
    ).format(c=sql.Identifier(column), t=sql.Identifier(table))
    try:
        row = conn.execute(query).fetchone() or conn.execute(fallback).fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


# -- helpers -------------------------------------------------------------------------------
def _drop(conn: psycopg.Connection, name: str) -> None:
    try:
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
            sql.Identifier(name)))
    except psycopg.Error as exc:
        raise DatabaseError(f"could not drop index {name} again: {_one_line(exc)}") from None


def _has_expression(create_sql: str) -> bool:
    try:
        tree = sqlglot.parse_one(create_sql, read="postgres")
    except sqlglot.errors.SqlglotError:
        return "((" in create_sql
    params = tree.this.args.get("params") if isinstance(tree.this, exp.Index) else None
    columns = params.args.get("columns") if params is not None else []
    for col in columns or []:
        target = col.this if isinstance(col, exp.Ordered) else col
        while isinstance(target, exp.Paren):
            target = target.this
        if not isinstance(target, exp.Column):
            return True
    return False


def _table_of(create_sql: str) -> str:
    m = re.search(r"\bON\s+(?:ONLY\s+)?(?:\"?[\w$]+\"?\.)?(\"(?:[^\"]|\"\")+\"|[\w$]+)",
                  create_sql, re.I)
    if not m:
        return ""
    name = m.group(1)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _show(value: Any) -> str:
    return "NULL" if value is None else "'" + str(value)[:40].replace("'", "''") + "'"


def _one_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    text = diag.message_primary if diag and diag.message_primary else str(exc)
    return " ".join(text.split())
