"""The workload as PostgreSQL measured it: ``pg_stat_statements``.

Normalised statements come with ``$1`` … parameters (costed with generic plans by
:mod:`idxadvisor.live.whatif`), their number of calls and total execution time, which becomes the
query weight. The tool's own statements (marked ``/* idxadvisor */``), utility statements and
catalog queries are left out, and each kind left out is counted in one ``Skipped`` line.

>>> # with connect_readonly(url) as db: statements, skipped = read_pg_stat_statements(db)
"""

from __future__ import annotations

import re
from collections import Counter

import sqlglot
from sqlglot import exp

from idxadvisor.live.connection import TOOL_MARK, ReadOnlyDatabase
from idxadvisor.types.workload import Skipped, Statement

_DML = {"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "VALUES", "TABLE", "MERGE"}
_LEADING = re.compile(r"^(?:\s+|--[^\n]*\n|/\*.*?\*/|\()*", re.S)
_FIRST_WORD = re.compile(r"[A-Za-z]+")
_CATALOG = re.compile(r"\b(?:pg_catalog|information_schema)\s*\.|\bpg_[a-z_]+\b", re.I)


def read_pg_stat_statements(db: ReadOnlyDatabase, *, min_calls: int = 1,
                            database_only: bool = True
                            ) -> tuple[tuple[Statement, ...], tuple[Skipped, ...]]:
    """Statements recorded by ``pg_stat_statements`` (this database's only, by default),
    heaviest first. Missing extension → one-line DatabaseError with the fix."""
    db.require_extension(
        "pg_stat_statements",
        "needed by --from-pg-stat-statements; the server must also preload it "
        "(shared_preload_libraries)",
    )
    time_column = "total_exec_time" if db.server_version >= 130000 else "total_time"
    where = ["calls >= %(min_calls)s"]
    if database_only:
        where.append("dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
    rows = db.fetchall(
        f"SELECT query, calls, {time_column} FROM pg_stat_statements "
        f"WHERE {' AND '.join(where)} ORDER BY {time_column} DESC, query",
        {"min_calls": min_calls},
        what="reading pg_stat_statements",
    )
    statements: list[Statement] = []
    left_out: Counter[str] = Counter()
    skipped: list[Skipped] = []
    for text, calls, total_ms in rows:
        if text is None or text.startswith("<insufficient privilege>"):
            left_out["hidden"] += 1
            continue
        if TOOL_MARK in text or "hypopg_" in text:
            continue  # idxadvisor's own catalog, HypoPG and EXPLAIN queries
        kind = statement_kind(text)
        if kind not in _DML:
            left_out["utility"] += 1
            continue
        if _reads_catalog(text):
            left_out["catalog"] += 1
            continue
        statements.append(Statement(sql=text.strip(), source="pg_stat_statements",
                                    calls=int(calls), total_time_ms=float(total_ms or 0.0)))
    if left_out["hidden"]:
        skipped.append(Skipped(
            f"pg_stat_statements: {left_out['hidden']} statement(s) of other users are hidden "
            "from this user (grant pg_read_all_stats to see them)"))
    if left_out["utility"]:
        skipped.append(Skipped(
            f"pg_stat_statements: {left_out['utility']} utility statement(s) (SET, BEGIN, DDL, "
            "EXPLAIN …) left out: indexes do not serve them"))
    if left_out["catalog"]:
        skipped.append(Skipped(
            f"pg_stat_statements: {left_out['catalog']} query(ies) on the system catalogs "
            "left out"))
    return tuple(statements), tuple(skipped)


def statement_kind(sql_text: str) -> str:
    """The statement's first keyword, upper case (``"SELECT"``, ``"SET"`` …).

    >>> statement_kind("/* c */ (SELECT 1)"), statement_kind("  set work_mem = $1")
    ('SELECT', 'SET')
    """
    rest = _LEADING.sub("", sql_text, count=1)
    m = _FIRST_WORD.match(rest)
    return m.group(0).upper() if m else ""


def _reads_catalog(sql_text: str) -> bool:
    try:
        tree = sqlglot.parse_one(sql_text, read="postgres")
    except sqlglot.errors.SqlglotError:
        return bool(_CATALOG.search(sql_text))
    tables = list(tree.find_all(exp.Table))
    if not tables:
        return bool(_CATALOG.search(sql_text))
    return any(
        t.db in ("pg_catalog", "information_schema") or t.name.startswith("pg_")
        for t in tables
    )
