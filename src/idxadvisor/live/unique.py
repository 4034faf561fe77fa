"""Whether ``.get()`` columns are unique in the data: statistics, then an exact check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from idxadvisor.errors import DatabaseError
from idxadvisor.live.connection import ReadOnlyDatabase
from idxadvisor.schema import Table


@dataclass(frozen=True, slots=True)
class UniqueCheck:
    """Whether the data is unique on ``columns``; ``checked`` says how that was established."""

    table: str
    columns: tuple[str, ...]
    unique: bool | None  # None: could not tell (timeout, no statistics)
    checked: str


def confirm_unique(db: ReadOnlyDatabase, table: Table, columns: Sequence[str]) -> UniqueCheck:
    """Statistics first (one column: ``n_distinct = -1``), then an exact duplicate check
    bounded by the session's ``statement_timeout``. NULLs are ignored, as a UNIQUE index does."""
    cols = tuple(columns)
    steps: list[str] = []
    if len(cols) == 1:
        col = table.column(cols[0])
        if col is None or col.stats is None:
            return UniqueCheck(table.name, cols, None,
                               f"no pg_stats for {table.name}.{cols[0]} (run ANALYZE)")
        if col.stats.n_distinct != -1:
            return UniqueCheck(table.name, cols, False,
                               f"pg_stats n_distinct = {col.stats.n_distinct:g} for "
                               f"{table.name}.{cols[0]} (-1 would mean unique)")
        steps.append("pg_stats n_distinct = -1")
    query = sql.SQL(
        "SELECT 1 FROM {table} WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1 LIMIT 1"
    ).format(
        table=sql.Identifier(table.name),
        not_null=sql.SQL(" AND ").join(
            sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in cols),
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in cols),
    )
    where = f"{table.name}({', '.join(cols)})"
    try:
        with db.transaction() as conn:
            text = query.as_string(conn)
        found = db.fetchone(text, what=f"checking {where} for duplicates")
    except DatabaseError as exc:
        if "statement_timeout" in str(exc):
            steps.append(f"exact duplicate check stopped by statement_timeout "
                         f"({db.statement_timeout_ms} ms)")
            return UniqueCheck(table.name, cols, None, "; ".join(steps))
        raise
    except psycopg.Error as exc:  # pragma: no cover - fetchone maps these
        raise DatabaseError(str(exc)) from None
    if found:
        steps.append("exact check found duplicate values")
        return UniqueCheck(table.name, cols, False, "; ".join(steps))
    steps.append("exact check (GROUP BY … HAVING count(*) > 1) found no duplicates")
    return UniqueCheck(table.name, cols, True, "; ".join(steps))
