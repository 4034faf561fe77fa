"""Whether ``.get()`` columns are unique in the data: enough rows, statistics, an exact check.

"No duplicates" only means something on enough rows: a table of 0 or 12 rows has none either.
So the first step counts (at most
:data:`~idxadvisor.advisor.statistics.UNIQUE_MIN_ROWS`) rows with every column set; below
that the answer is "cannot tell" (``unique=None``), never "unique".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from idxadvisor.advisor.statistics import UNIQUE_MIN_ROWS
from idxadvisor.errors import DatabaseError
from idxadvisor.live.connection import ReadOnlyDatabase
from idxadvisor.types.schema import Table


@dataclass(frozen=True, slots=True)
class UniqueCheck:
    """Whether the data is unique on ``columns``; ``checked`` says how that was established.

    ``rows`` is the number of rows with every column set, counted up to
    :data:`~idxadvisor.advisor.statistics.UNIQUE_MIN_ROWS` (None: not counted)."""

    table: str
    columns: tuple[str, ...]
    unique: bool | None  # None: could not tell (too few rows, timeout, no statistics, privilege)
    checked: str
    rows: int | None = None


def confirm_unique(
    db: ReadOnlyDatabase, table: Table, columns: Sequence[str], *, min_rows: int = UNIQUE_MIN_ROWS
) -> UniqueCheck:
    """Enough rows first (≥ ``min_rows`` with the columns set), then statistics (one column:
    ``n_distinct = -1``), then an exact duplicate check, each bounded by the session's
    ``statement_timeout``. NULLs are ignored, as a UNIQUE index does. A query that fails
    (timeout, privilege) gives ``unique=None`` with the reason, never an exception."""
    cols = tuple(columns)
    where = f"{table.name}({', '.join(cols)})"
    steps: list[str] = []
    # The count stops at min_rows: it proves "enough" without reading a big table.
    count = sql.SQL(
        "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {not_null} LIMIT {limit}) s"
    ).format(
        table=sql.Identifier(table.name), not_null=_not_null(cols), limit=sql.Literal(min_rows)
    )
    try:
        counted = db.fetchone(_text(db, count), what=f"counting the rows of {where}")
    except DatabaseError as exc:
        return UniqueCheck(table.name, cols, None, _failed("row count", exc, db))
    rows = int(counted[0]) if counted else 0
    if rows < min_rows:
        nullable = [c for c in cols if (col := table.column(c)) is None or col.null]
        with_set = f" with {', '.join(nullable)} set" if nullable else ""
        return UniqueCheck(
            table.name,
            cols,
            None,
            f"{table.name} has {rows:,} rows{with_set}, too few to show "
            f"({', '.join(cols)}) {'is' if len(cols) == 1 else 'are'} unique "
            f"(needs {min_rows:,})",
            rows,
        )
    steps.append(f"at least {rows:,} rows")
    if len(cols) == 1:
        col = table.column(cols[0])
        if col is None or col.stats is None:
            return UniqueCheck(
                table.name,
                cols,
                None,
                f"no pg_stats for {table.name}.{cols[0]} (run ANALYZE)",
                rows,
            )
        if col.stats.n_distinct != -1:
            return UniqueCheck(
                table.name,
                cols,
                False,
                f"pg_stats n_distinct = {col.stats.n_distinct:g} for "
                f"{table.name}.{cols[0]} (-1 would mean unique)",
                rows,
            )
        steps.append("pg_stats n_distinct = -1")
    duplicates = sql.SQL(
        "SELECT 1 FROM {table} WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1 LIMIT 1"
    ).format(
        table=sql.Identifier(table.name),
        not_null=_not_null(cols),
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in cols),
    )
    try:
        found = db.fetchone(_text(db, duplicates), what=f"checking {where} for duplicates")
    except DatabaseError as exc:
        steps.append(_failed("exact duplicate check", exc, db))
        return UniqueCheck(table.name, cols, None, "; ".join(steps), rows)
    if found:
        steps.append("exact check found duplicate values")
        return UniqueCheck(table.name, cols, False, "; ".join(steps), rows)
    steps.append("exact check (GROUP BY … HAVING count(*) > 1) found no duplicates")
    return UniqueCheck(table.name, cols, True, "; ".join(steps), rows)


def _not_null(cols: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in cols)


def _text(db: ReadOnlyDatabase, query: sql.Composed) -> str:
    with db.transaction() as conn:
        return query.as_string(conn)


def _failed(step: str, exc: DatabaseError, db: ReadOnlyDatabase) -> str:
    if "statement_timeout" in str(exc):
        return f"{step} stopped by statement_timeout ({db.statement_timeout_ms} ms)"
    return f"{step} failed: {exc}"
