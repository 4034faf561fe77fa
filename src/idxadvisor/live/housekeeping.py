"""Housekeeping: indexes that cost writes and space but serve nothing.

* unused: ``idx_scan = 0`` over scan statistics at least :data:`MIN_STATS_AGE` old (see
  :func:`stats_age`); younger or of unknown age, nothing is called unused and the report says
  why. Indexes behind a constraint (primary key, unique) are left out, as they enforce something
  even when never scanned; an index that leads with a foreign key's columns is reported with
  what it serves (the on-delete lookups from the referenced table, joins);
* duplicate: two indexes with the same definition;
* prefix-redundant: a B-tree whose keys are a leading prefix of another B-tree's on the same
  table with the same predicate (``(a)`` next to ``(a, b)``).

A unique index is never reported as redundant to a non-unique one: only an identical unique
index (or the primary key) can stand in for it.

>>> from idxadvisor.types.schema import ExistingIndex, IndexElement as E, Schema
>>> a = ExistingIndex("t", "t_a", (E("a"),), "catalog")
>>> ab = ExistingIndex("t", "t_a_b", (E("a"), E("b")), "catalog")
>>> [(r.index.name, r.covered_by) for r in duplicate_indexes(Schema({}, (a, ab)))]
[('t_a', 't_a_b')]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from idxadvisor.advisor.methods import BTREE
from idxadvisor.errors import DatabaseError
from idxadvisor.live.connection import ReadOnlyDatabase
from idxadvisor.types.advice import Redundancy
from idxadvisor.types.schema import ExistingIndex, Schema

# Scan counts younger than this cannot tell an unused index from one a weekly job or report
# needs: below it no index is called unused.
MIN_STATS_AGE = timedelta(days=7)

_STATS_AGE = """
SELECT now(), d.stats_reset, pg_postmaster_start_time(), current_user,
       has_function_privilege('pg_catalog.pg_stat_file(text, boolean)', 'EXECUTE'),
       CASE WHEN db.dattablespace = (SELECT oid FROM pg_tablespace WHERE spcname = 'pg_default')
            THEN 'base/' || db.oid || '/PG_VERSION' END
FROM pg_database db
LEFT JOIN pg_stat_database d ON d.datid = db.oid
WHERE db.datname = current_database()
"""

# PG_VERSION is written once, when CREATE DATABASE makes the directory: its time is the
# database's creation time.
_CREATED = "SELECT (pg_stat_file(%(path)s, true)).modification"

_UNUSED = """
SELECT s.relname, s.indexrelname, pg_relation_size(s.indexrelid), pg_get_indexdef(s.indexrelid),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnkeyatts) k ORDER BY k),
       fk.columns, fk.referenced
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
LEFT JOIN LATERAL (
    -- a foreign key whose columns are the index's leading keys, in any order
    SELECT ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                 ORDER BY k.ord) AS columns,
           c.confrelid::regclass::text AS referenced
    FROM pg_constraint c
    WHERE c.contype = 'f' AND c.conrelid = i.indrelid
      AND c.conkey::int2[] <@ ARRAY(SELECT k FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(k, o)
                                     WHERE o <= cardinality(c.conkey))
    ORDER BY c.oid LIMIT 1
) fk ON true
WHERE s.idx_scan = 0 AND i.indisvalid
  AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid)
  AND pg_table_is_visible(s.relid)
ORDER BY pg_relation_size(s.indexrelid) DESC, s.indexrelname
"""


@dataclass(frozen=True, slots=True)
class UnusedIndex:
    table: str
    name: str
    size_bytes: int
    definition: str  # pg_get_indexdef
    columns: tuple[str, ...] = ()  # key columns (or expressions), in order
    foreign_key: tuple[str, ...] | None = None  # the FK columns it leads with, if any
    references: str | None = None  # the table that foreign key points to


@dataclass(frozen=True, slots=True)
class StatsAge:
    """Since when the scan counts run, as far as the server shows it (``since`` None: unknown).

    ``basis`` says where ``since`` comes from ("the statistics reset", "the database's
    creation", "the server start") or, when unknown, why.

    >>> from datetime import timezone as tz
    >>> now = datetime(2024, 5, 10, 12, 0, tzinfo=tz.utc)
    >>> StatsAge(datetime(2024, 5, 1, 12, 0, tzinfo=tz.utc), "the statistics reset", now).describe()
    '9.0 days (since 2024-05-01 12:00 UTC, the statistics reset)'
    """

    since: datetime | None
    basis: str
    now: datetime

    @property
    def age(self) -> timedelta | None:
        return None if self.since is None else max(timedelta(0), self.now - self.since)

    def describe(self) -> str:
        if self.since is None or self.age is None:
            return f"an unknown time ({self.basis})"
        stamp = self.since.strftime("%Y-%m-%d %H:%M %Z").strip()
        return f"{self.age.total_seconds() / 86400:.1f} days (since {stamp}, {self.basis})"


@dataclass(frozen=True, slots=True)
class UnusedReport:
    """Never-scanned indexes, or none and ``skipped_reason`` when the counts are too young or of
    unknown age to tell."""

    indexes: tuple[UnusedIndex, ...]
    age: StatsAge
    skipped_reason: str | None = None


def stats_age(db: ReadOnlyDatabase) -> StatsAge:
    """How long this database's scan counts have been running.

    ``pg_stat_database.stats_reset`` when the statistics were reset. NULL means never reset:
    the counts then run since the database was created, or since the server last threw its
    statistics away (a crash, an immediate shutdown, a restore), which PostgreSQL does not
    record. So the later of the creation time (``PG_VERSION``'s time, through ``pg_stat_file``,
    which only superusers and roles granted it may call) and ``pg_postmaster_start_time()``
    is taken: never older than the truth (a clean restart keeps the counts, so this may
    understate). Without the creation time the age is unknown: a server started long ago says
    nothing about a database created today.
    """
    row = db.fetchone(_STATS_AGE, what="reading pg_stat_database")
    if row is None:  # pragma: no cover - current_database() is always in pg_database
        raise DatabaseError("current database missing from pg_database")
    now, reset, started, role, may_stat, path = row
    if reset is not None:
        return StatsAge(reset, "the statistics reset", now)
    created = None
    if may_stat and path:
        try:
            found = db.fetchone(_CREATED, {"path": path}, what="reading the database's age")
        except DatabaseError:
            found = None  # e.g. revoked since the privilege check: the age stays unknown
        created = found[0] if found else None
    if created is None:
        return StatsAge(
            None,
            "the statistics were never reset, and reading the database's "
            "creation time needs GRANT EXECUTE ON FUNCTION "
            f"pg_stat_file(text, boolean) TO {role}",
            now,
        )
    if started is not None and started > created:
        return StatsAge(started, "the server start", now)
    return StatsAge(created, "the database's creation", now)


def unused_indexes(db: ReadOnlyDatabase, *, min_age: timedelta = MIN_STATS_AGE) -> UnusedReport:
    """Indexes never scanned over statistics at least ``min_age`` old, biggest first.
    Constraint-backed indexes and INVALID ones (see :func:`invalid_indexes`) are left out."""
    age = stats_age(db)
    if age.age is None:
        return UnusedReport(
            (),
            age,
            "unused indexes not reported: cannot tell how long the "
            f"scan counts cover ({age.basis})",
        )
    if age.age < min_age:
        return UnusedReport(
            (),
            age,
            f"unused indexes not reported: the scan counts cover only "
            f"{age.describe()}, under the {min_age.days} days needed "
            "to tell an unused index from a rarely used one",
        )
    rows = db.fetchall(_UNUSED, what="reading pg_stat_user_indexes")
    return UnusedReport(
        tuple(
            UnusedIndex(t, n, int(s), d, tuple(cols or ()), tuple(fk) if fk else None, ref)
            for t, n, s, d, cols, fk, ref in rows
        ),
        age,
    )


def invalid_indexes(schema: Schema) -> tuple[ExistingIndex, ...]:
    """INVALID indexes (a failed CREATE INDEX CONCURRENTLY): written to, never read."""
    return tuple(i for i in schema.indexes if not i.valid)


def duplicate_indexes(schema: Schema) -> tuple[Redundancy, ...]:
    """Exact duplicates and prefix-redundant B-tree indexes, each reported once."""
    found: list[Redundancy] = []
    reported: set[tuple[str, str]] = set()
    for table in sorted({i.table for i in schema.indexes}):
        indexes = sorted((i for i in schema.indexes_on(table) if i.valid), key=_keep_order)
        for pos, keep in enumerate(indexes):
            for other in indexes[pos + 1 :]:
                if (table, other.name) in reported or (table, keep.name) in reported:
                    continue
                if _same(keep, other) and (keep.unique or not other.unique):
                    found.append(Redundancy(other, keep.name, f"same definition as {keep.name}"))
                    reported.add((table, other.name))
        for small in indexes:
            if small.unique or (table, small.name) in reported:
                continue
            for big in indexes:
                if big is small or (table, big.name) in reported:
                    continue
                if _prefix_of(small, big):
                    keys = ", ".join(small.columns)
                    found.append(
                        Redundancy(
                            small,
                            big.name,
                            f"its keys ({keys}) are a leading prefix of {big.name} "
                            f"({', '.join(big.columns)})",
                        )
                    )
                    reported.add((table, small.name))
                    break
    return tuple(found)


def _keep_order(index: ExistingIndex) -> tuple:
    """Which of two identical indexes to keep: primary key, unique, declared in a model, used."""
    return (
        index.origin != "primary key",
        not index.unique,
        not index.declared,
        -(index.scans or 0),
        index.name,
    )


def _same(a: ExistingIndex, b: ExistingIndex) -> bool:
    return (a.elements, a.condition, a.include, a.method) == (
        b.elements,
        b.condition,
        b.include,
        b.method,
    )


def _prefix_of(small: ExistingIndex, big: ExistingIndex) -> bool:
    if small.method != BTREE or big.method != BTREE or small.condition != big.condition:
        return False
    n = len(small.elements)
    if n >= len(big.elements) or big.elements[:n] != small.elements:
        return False
    # What ``small`` returns without visiting the heap must come out of ``big`` too.
    available = set(big.columns) | set(big.include)
    return set(small.include) <= available
