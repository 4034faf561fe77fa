"""What ``pg_stats`` and table sizes say: selectivity, partial vs key column, BRIN, tiny tables.

Pure functions of :class:`~idxadvisor.types.schema.ColumnStats` and
:class:`~idxadvisor.types.schema.Table` (filled from the live catalog); the advisor's rules
call them when statistics are there.

>>> from idxadvisor.types.schema import ColumnStats
>>> status = ColumnStats(n_distinct=3, most_common_vals=("done", "pending", "failed"),
...                      most_common_freqs=(0.97, 0.02, 0.01))
>>> value_fraction(status, "'pending'")
0.02
>>> favours_partial(status, ("'pending'", "'failed'"))
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.schema import Column, ColumnStats, Table

# A table below either bound fits in a few pages: a sequential scan reads it as fast as an
# index would, so an index only costs writes. 8 pages = 64 kB at the default block size.
SMALL_TABLE_ROWS = 1_000
SMALL_TABLE_BYTES = 8 * 8192

# A UNIQUE proposal needs at least this many rows with its columns set: on a handful of rows
# "no duplicates found" says nothing about the data the table will hold.
UNIQUE_MIN_ROWS = 1_000

# |correlation| from which a timestamp counts as append-only (physical order ≈ value order),
# so a BRIN index of a few pages serves range filters.
BRIN_MIN_CORRELATION = 0.9

# A constant filter matching at most this share of rows is better as a partial index predicate
# than as a key column: the index then holds only those rows.
PARTIAL_MAX_FRACTION = 0.2

# PostgreSQL's own defaults when statistics say nothing (selfuncs.h).
DEFAULT_EQ_SEL = 0.005
DEFAULT_INEQ_SEL = 1 / 3
DEFAULT_MATCH_SEL = 0.005


def is_small_table(table: Table) -> bool:
    """Too small for an index to matter: < 1,000 rows or < 8 pages (64 kB). Unknown → False."""
    if table.rows is not None and table.rows < SMALL_TABLE_ROWS:
        return True
    return table.size_bytes is not None and table.size_bytes < SMALL_TABLE_BYTES


def is_date(db_type: str) -> bool:
    """A ``date`` or ``timestamp [with[out] time zone]`` column type."""
    kind = db_type.lower()
    return kind.startswith("timestamp") or kind == "date"


def is_append_only_timestamp(column: Column) -> bool:
    """A date/timestamp column whose values follow the physical row order (BRIN territory)."""
    if not is_date(column.db_type):
        return False
    corr = column.stats.correlation if column.stats else None
    return corr is not None and abs(corr) >= BRIN_MIN_CORRELATION


# Django's own lookup tables: one row per model, per site. A column pointing at one holds few
# values, each on many rows.
LOOKUP_TABLES = frozenset({"django_content_type", "django_site"})
FEW_VALUES = 50  # n_distinct at or below which each value has many rows of a large table


def few_values(column: Column | None, rows: int | None = None) -> bool:
    """Whether a column holds few distinct values, so that one value has many rows: pg_stats
    says so; else its choices, a boolean, or a key of one of Django's lookup tables."""
    if column is None:
        return False
    if column.stats is not None:
        n = distinct_values(column.stats, rows)
        if n is not None:
            return n <= FEW_VALUES
    return column.choices or column.boolean or column.references in LOOKUP_TABLES


def distinct_values(stats: ColumnStats, rows: int | None) -> float | None:
    """Number of distinct non-null values (``n_distinct`` < 0 is a fraction of the rows)."""
    if stats.n_distinct > 0:
        return stats.n_distinct
    if stats.n_distinct < 0 and rows:
        return -stats.n_distinct * rows
    return None


def value_fraction(stats: ColumnStats, literal: str, rows: int | None = None) -> float:
    """Share of rows equal to ``literal`` (SQL literal or plain text), as PostgreSQL would guess.

    A most common value has its measured frequency; any other value gets an equal share of
    what the most common values leave.
    """
    text = _literal_text(literal)
    freq = stats.frequency(text)
    if freq is not None:
        return freq
    left = max(0.0, 1.0 - stats.null_frac - sum(stats.most_common_freqs))
    others = distinct_values(stats, rows)
    if others is None:
        return DEFAULT_EQ_SEL
    others -= len(stats.most_common_vals)
    return left / others if others >= 1 else min(left, DEFAULT_EQ_SEL)


def any_value_fraction(stats: ColumnStats, rows: int | None) -> float:
    """Share of rows equal to a value not known in advance (a ``$n`` parameter)."""
    n = distinct_values(stats, rows)
    return (1.0 - stats.null_frac) / n if n else DEFAULT_EQ_SEL


def selectivity(stats: ColumnStats | None, predicate: Predicate, rows: int | None) -> float:
    """Fraction of rows a predicate keeps, from the column's statistics (PostgreSQL's defaults
    when there are none or the value is a ``$n`` parameter)."""
    if stats is None:
        return {
            Op.IS_NULL: DEFAULT_EQ_SEL,
            Op.NOT_NULL: 1 - DEFAULT_EQ_SEL,
            Op.RANGE: DEFAULT_INEQ_SEL,
        }.get(predicate.op, DEFAULT_EQ_SEL)
    if predicate.op is Op.IS_NULL:
        return stats.null_frac
    if predicate.op is Op.NOT_NULL:
        return 1.0 - stats.null_frac
    if predicate.op in (Op.EQ, Op.IN):
        if predicate.constants:
            return min(1.0, sum(value_fraction(stats, v, rows) for v in predicate.constants))
        per_value = any_value_fraction(stats, rows)
        return per_value if predicate.op is Op.EQ else min(1.0, 2 * per_value)
    if predicate.op is Op.NEQ:
        if predicate.constants:
            return max(
                0.0, 1.0 - stats.null_frac - value_fraction(stats, predicate.constants[0], rows)
            )
        return 1.0 - stats.null_frac
    if predicate.op is Op.RANGE:
        return DEFAULT_INEQ_SEL
    return DEFAULT_MATCH_SEL


def favours_partial(
    stats: ColumnStats | None, constants: Sequence[str], rows: int | None = None
) -> bool:
    """Whether a constant filter is rare enough (≤ 20 % of rows) to be a partial-index WHERE
    rather than a key column. Unknown statistics → False (keep the column as a key)."""
    if stats is None or not constants:
        return False
    share = sum(value_fraction(stats, c, rows) for c in constants)
    return share <= PARTIAL_MAX_FRACTION


def order_by_selectivity(table: Table, columns: Iterable[str]) -> tuple[str, ...]:
    """Equality columns most selective first (more distinct values first); columns without
    statistics keep their given order, after those with."""
    cols = list(columns)

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        pos, name = item
        col = table.column(name)
        n = distinct_values(col.stats, table.rows) if col and col.stats else None
        return (0, -n, pos) if n is not None else (1, 0.0, pos)

    return tuple(name for _, name in sorted(enumerate(cols), key=key))


def _literal_text(literal: str) -> str:
    """``'pending'`` → ``pending``; ``TRUE`` → ``t`` (pg_stats' text form of booleans)."""
    s = literal.strip()
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    upper = s.upper()
    if upper in ("TRUE", "FALSE"):
        return upper[0].lower()
    return s
