"""The workload as PostgreSQL measured it: ``pg_stat_statements``.

Normalised statements come with ``$1`` … parameters (costed with generic plans by
:mod:`idxadvisor.live.whatif`), their number of calls and total execution time, which becomes the
query weight. The tool's own statements (marked ``/* idxadvisor */``), utility statements and
catalog queries are left out, and each kind left out is counted in one ``Skipped`` line.

>>> # with connect_readonly(url) as db: statements, skipped = read_pg_stat_statements(db)
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import TYPE_CHECKING

from idxadvisor.sql.statements import EXPLAINABLE, TOOL_MARK, classify, tokens
from idxadvisor.types.workload import Skipped, Statement

if TYPE_CHECKING:  # the session is opened by the pipeline; this source only reads
    from idxadvisor.live.connection import ReadOnlyDatabase

# After these a name is a table the statement reads or writes.
_TABLE_BEFORE = frozenset({"FROM", "JOIN", "UPDATE", "INTO", "USING"})


def read_pg_stat_statements(
    db: ReadOnlyDatabase, *, min_calls: int = 1, database_only: bool = True
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
        if classify(text).kind not in EXPLAINABLE:
            left_out["utility"] += 1
            continue
        if _reads_catalog(text):
            left_out["catalog"] += 1
            continue
        statements.append(
            Statement(
                sql=text.strip(),
                source="pg_stat_statements",
                calls=int(calls),
                total_time_ms=float(total_ms or 0.0),
            )
        )
    if left_out["hidden"]:
        skipped.append(
            Skipped(
                f"pg_stat_statements: {left_out['hidden']} statement(s) of other users are hidden "
                "from this user (grant pg_read_all_stats to see them)"
            )
        )
    if left_out["utility"]:
        skipped.append(
            Skipped(
                f"pg_stat_statements: {left_out['utility']} utility statement(s) (SET, BEGIN, DDL, "
                "EXPLAIN …) left out: indexes do not serve them"
            )
        )
    if left_out["catalog"]:
        skipped.append(
            Skipped(
                f"pg_stat_statements: {left_out['catalog']} query(ies) on the system catalogs "
                "left out"
            )
        )
    return tuple(statements), tuple(skipped)


def _reads_catalog(sql_text: str) -> bool:
    """Whether a table the statement names is a system catalog (read with the lexer: names in
    strings and comments do not count).

    >>> _reads_catalog("SELECT c.relname FROM pg_catalog.pg_class c"), _reads_catalog(
    ...     "SELECT * FROM t WHERE note = 'FROM pg_class'")
    (True, False)
    >>> _reads_catalog("SELECT * FROM information_schema.tables")
    True
    """
    toks, _ = tokens(sql_text)
    for before, name in itertools.pairwise(toks):
        if name.kind != "word" or not (before.upper in _TABLE_BEFORE or before.text == ","):
            continue
        word = name.text.lower()
        if word in ("pg_catalog", "information_schema") or word.startswith("pg_"):
            return True
    return False
