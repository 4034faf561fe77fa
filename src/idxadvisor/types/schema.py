"""What exists: tables, columns, statistics and indexes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

# Index method names as PostgreSQL spells them (``USING …``); what each can do is the
# advisor's table, advisor/methods.py.
BTREE = "btree"
BRIN = "brin"
GIN = "gin"
GIST = "gist"
HASH = "hash"

IndexOrigin = str  # "primary key", "unique", "db_index", "foreign key", "Meta.indexes", …


@dataclass(frozen=True, slots=True)
class IndexElement:
    """One key of an index: a column, or an expression (normalised SQL), and its direction."""

    column: str | None = None
    expression: str | None = None
    descending: bool = False
    opclass: str | None = None  # e.g. varchar_pattern_ops: serves LIKE 'x%' but not ORDER BY

    @property
    def key(self) -> str:
        return self.expression or self.column or ""


@dataclass(frozen=True, slots=True)
class ExistingIndex:
    table: str
    name: str
    elements: tuple[IndexElement, ...]
    origin: IndexOrigin
    unique: bool = False
    condition: str | None = None  # SQL of the partial index predicate, unqualified
    include: tuple[str, ...] = ()
    method: str = "btree"
    model: str | None = None  # "app_label.ModelName" when declared by a model
    valid: bool = True  # False for an INVALID index left by a failed concurrent build
    declared: bool = True  # False when only the catalog has it
    size_bytes: int | None = None
    scans: int | None = None  # pg_stat_user_indexes.idx_scan

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.elements)


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """What ``pg_stats`` says of a column (see PostgreSQL's docs for each field's meaning)."""

    null_frac: float = 0.0
    n_distinct: float = 0.0  # > 0: distinct values; < 0: minus the fraction of rows
    most_common_vals: tuple[str, ...] = ()  # as text
    most_common_freqs: tuple[float, ...] = ()
    correlation: float | None = None
    avg_width: int | None = None  # bytes

    def frequency(self, value: str) -> float | None:
        """Fraction of rows holding ``value`` (text form), when it is a most common value."""
        for v, f in zip(self.most_common_vals, self.most_common_freqs, strict=False):
            if v == value:
                return f
        return None


# Longer declared lengths may pass a B-tree entry's 2,704 bytes at 4 bytes a character.
MAX_BTREE_TEXT_LENGTH = 675


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # database column
    field: str  # Django field name ("" when unknown)
    db_type: str
    null: bool = False
    unique: bool = False  # true of the primary key too
    references: str | None = None  # table a FK points to
    stats: ColumnStats | None = None  # from pg_stats, with a database
    choices: bool = False  # a Django field with choices: few distinct values
    insert_timestamp: bool = False  # auto_now_add / default=now: set once, on insert
    update_timestamp: bool = False  # auto_now: set again on every save
    primary_key: bool = False

    @property
    def boolean(self) -> bool:
        """Two values (three with NULL): a key of its own never narrows a scan much."""
        return self.db_type.lower() == "boolean"

    @property
    def long_text(self) -> bool:
        """Whether its values may be too long for a B-tree entry (about 2.7 kB): text with no
        length limit, or one long enough to pass it in a multi-byte encoding.

        >>> [Column("c", "c", t).long_text for t in ("text", "varchar(255)", "varchar(2000)")]
        [True, False, True]
        """
        t = self.db_type.lower().strip()
        if t in ("text", "citext", "varchar", "character varying"):
            return True
        if t.startswith(("varchar(", "character varying(")):
            length = declared_length(t)
            return length is not None and length > MAX_BTREE_TEXT_LENGTH
        return False


def declared_length(db_type: str) -> int | None:
    """The length a type declares (``varchar(64)`` → 64), or None.

    >>> declared_length("character varying(200)"), declared_length("text")
    (200, None)
    """
    if "(" not in db_type:
        return None
    length = db_type.split("(", 1)[1].split(")", 1)[0]
    return int(length) if length.isdigit() else None


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    model: str | None = None  # "app_label.ModelName"
    app_label: str | None = None
    model_name: str | None = None  # class name
    source_file: str | None = None  # where the model class is defined
    rows: int | None = None  # live estimate (pg_class.reltuples)
    size_bytes: int | None = None
    # False: Django never creates or migrates it (``managed = False``: a legacy table, a view),
    # so no migration can add an index to it.
    managed: bool = True
    # True: a ManyToManyField's table without ``through``: no model source declares its indexes.
    auto_created: bool = False
    # True: its model is made at run time, not written in any source (django-simple-history's
    # historical models): what declares its indexes is the code that makes it.
    generated: bool = False
    # Declaratively partitioned (pg_partitioned_table, live mode, or --partitioned): no
    # CREATE INDEX CONCURRENTLY on it; ``partitions`` are its direct children (pg_inherits).
    partitioned: bool = False
    partitions: tuple[str, ...] = ()

    @property
    def installed_package(self) -> bool:
        """Whether its model comes from an installed package (``django.contrib.auth``, an app
        from PyPI), not from the project: its migrations are that package's.

        >>> Table("t", (), source_file="/v/lib/python3.11/site-packages/m.py").installed_package
        True
        """
        path = (self.source_file or "").replace("\\", "/")
        return "/site-packages/" in path or "/dist-packages/" in path

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def field_for(self, column: str) -> str:
        """The Django field name for a column (``organisation_id`` → ``organisation``)."""
        c = self.column(column)
        return c.field if c and c.field else column


@dataclass(frozen=True, slots=True)
class Schema:
    tables: Mapping[str, Table] = field(default_factory=dict)
    indexes: tuple[ExistingIndex, ...] = ()
    server_version: int | None = None  # PostgreSQL's server_version_num, with a database

    def indexes_on(self, table: str) -> tuple[ExistingIndex, ...]:
        return tuple(i for i in self.indexes if i.table == table)

    @property
    def generated_tables(self) -> frozenset[str]:
        """Tables whose model is made at run time (see :attr:`Table.generated`)."""
        return frozenset(name for name, t in self.tables.items() if t.generated)

    def merged_with(self, other: Schema) -> Schema:
        """This schema plus what ``other`` knows (live catalog over models): tables take the
        live numbers, indexes are unioned by (table, name), the catalog's validity winning."""
        tables = dict(self.tables)
        for name, t in other.tables.items():
            mine = tables.get(name)
            tables[name] = t if mine is None else _merge_table(mine, t)
        by_name = {(i.table, stored_name(i.name)): i for i in self.indexes}
        for i in other.indexes:
            key = (i.table, stored_name(i.name))
            known = by_name.get(key)
            by_name[key] = i if known is None else _merge_index(known, i)
        return Schema(tables, tuple(by_name.values()), other.server_version or self.server_version)


def stored_name(name: str) -> str:
    """An identifier as PostgreSQL stores it: cut to 63 bytes (NAMEDATALEN - 1), at a character
    boundary. taggit's 64-character UniqueConstraint name is its catalog index's name less the
    last letter: one index, not a declared one and a second, undeclared one.

    >>> stored_name("x" * 64) == "x" * 63, stored_name("é" * 40) == "é" * 31
    (True, True)
    """
    return name.encode()[:63].decode(errors="ignore")


def _merge_table(model: Table, live: Table) -> Table:
    live_cols = {c.name: c for c in live.columns}
    columns = tuple(
        replace(c, stats=live_cols[c.name].stats) if c.name in live_cols else c
        for c in model.columns
    )
    return replace(
        model,
        columns=columns,
        rows=live.rows,
        size_bytes=live.size_bytes,
        partitioned=live.partitioned,
        partitions=live.partitions,
    )


def _merge_index(model: ExistingIndex, live: ExistingIndex) -> ExistingIndex:
    return replace(live, origin=model.origin, model=model.model, declared=True)
