"""The live catalog: tables, columns with ``pg_stats``, sizes and every existing index.

Indexes come back as :class:`~idxadvisor.types.schema.ExistingIndex` with ``origin="catalog"`` and
``declared=False``; :meth:`Schema.merged_with` marks the ones the models also declare. Partial,
expression and INCLUDE indexes, INVALID ones (a failed concurrent build) and scan counts are kept.

A role sees ``pg_stats`` only for the tables it may read, and cannot plan or scan the others:
:func:`table_access` names those, with the GRANT that would help, so the live steps leave just
them out.

>>> # with connect_readonly(url) as db: schema = read_schema(db, ["monitoring_hook"])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from idxadvisor.schema.models import expression_key, parse_index_sql
from idxadvisor.types.schema import Column, ColumnStats, ExistingIndex, IndexElement, Schema, Table

if TYPE_CHECKING:  # the session is opened by the pipeline; this stage only reads through it
    from idxadvisor.live.connection import ReadOnlyDatabase

_TABLES = """
SELECT c.oid, c.relname,
       -- A partitioned parent holds no rows itself: its rows and size are its leaves'.
       CASE WHEN c.relkind = 'p' THEN (
           SELECT CASE WHEN bool_and(l.reltuples < 0) THEN -1
                       ELSE sum(greatest(l.reltuples, 0)) END
           FROM pg_partition_tree(c.oid) t JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf)
       ELSE c.reltuples END::bigint,
       CASE WHEN c.relkind = 'p' THEN (
           SELECT sum(pg_table_size(t.relid)) FROM pg_partition_tree(c.oid) t WHERE t.isleaf)
       ELSE pg_table_size(c.oid) END,
       c.relpages,
       c.relkind = 'p',
       ARRAY(SELECT ch.relname::text FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid
             WHERE i.inhparent = c.oid ORDER BY ch.relname)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
  AND pg_table_is_visible(c.oid)
  AND (%(names)s::text[] IS NULL OR c.relname = ANY(%(names)s::text[]))
ORDER BY c.relname
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       s.null_frac, s.n_distinct, s.most_common_vals::text::text[], s.most_common_freqs,
       s.correlation
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stats s ON s.schemaname = n.nspname
                    AND s.tablename = c.relname AND s.attname = a.attname
                    AND NOT s.inherited
WHERE a.attrelid = ANY(%(oids)s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_FOREIGN_KEYS = """
SELECT con.conrelid, a.attname, ref.relname
FROM pg_constraint con
JOIN pg_class ref ON ref.oid = con.confrelid
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
WHERE con.contype = 'f' AND cardinality(con.conkey) = 1
  AND con.conrelid = ANY(%(oids)s::oid[])
"""

_INDEXES = """
SELECT i.indrelid, ic.relname, am.amname, i.indisunique, i.indisprimary, i.indisvalid,
       i.indnkeyatts, i.indoption::int2[],
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnatts) k ORDER BY k),
       ARRAY(SELECT k.attnum <> 0 FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
             ORDER BY k.ord),
       pg_get_expr(i.indpred, i.indrelid, true),
       pg_relation_size(i.indexrelid), st.idx_scan, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_stat_user_indexes st ON st.indexrelid = i.indexrelid
WHERE i.indrelid = ANY(%(oids)s::oid[])
ORDER BY i.indrelid, ic.relname
"""


_ACCESS = """
SELECT t.name, quote_ident(t.name), quote_ident(current_user), vis.oid IS NOT NULL,
       COALESCE(has_table_privilege(vis.oid, 'SELECT'), false),
       ARRAY(SELECT quote_ident(n.nspname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relname = t.name AND c.relkind IN ('r', 'p', 'm', 'v', 'f')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname !~ '^pg_(toast|temp)'
             ORDER BY n.nspname),
       ARRAY(SELECT quote_ident(n.nspname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relname = t.name AND c.relkind IN ('r', 'p', 'm', 'v', 'f')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname !~ '^pg_(toast|temp)'
               AND NOT has_schema_privilege(n.oid, 'USAGE')
             ORDER BY n.nspname)
FROM unnest(%(names)s::text[]) AS t(name)
LEFT JOIN LATERAL (
    SELECT c.oid FROM pg_class c
    WHERE c.relname = t.name AND c.relkind IN ('r', 'p', 'm', 'v', 'f')
      AND pg_table_is_visible(c.oid)
    LIMIT 1
) vis ON true
ORDER BY t.name
"""


def table_access(db: ReadOnlyDatabase, tables: Iterable[str]) -> dict[str, str]:
    """The ``tables`` this role cannot read, each with a one-line reason and the fix.

    A readable table is one visible on the role's ``search_path`` with SELECT on it. Anything
    else hides its statistics and makes every query on it fail ("permission denied", or
    "relation does not exist" when its schema is not usable): the reason says which GRANT (or
    search_path) would help. Tables not in the result can be read.
    """
    names = sorted(set(tables))
    if not names:
        return {}
    rows = db.fetchall(_ACCESS, {"names": names}, what="checking table privileges")
    found: dict[str, str] = {}
    for name, ident, role, visible, readable, schemas, unusable in rows:
        head = f"cannot read {name} as {role}"
        if visible and readable:
            continue
        if visible:
            found[name] = (
                f"{head}: no SELECT privilege, so its statistics, duplicates and "
                f"plans are hidden (GRANT SELECT ON {ident} TO {role})"
            )
        elif unusable:
            grants = "; ".join(f"GRANT USAGE ON SCHEMA {s} TO {role}" for s in unusable)
            found[name] = (
                f"{head}: it is in schema {', '.join(unusable)}, which this role "
                f"may not use ({grants}; and SELECT on the table)"
            )
        elif schemas:
            found[name] = (
                f"{head}: it is in schema {', '.join(schemas)}, not on this role's "
                f"search_path (ALTER ROLE {role} SET search_path = …)"
            )
        else:
            found[name] = f"{head}: no table {name} in this database (are the migrations applied?)"
    return found


def read_schema(db: ReadOnlyDatabase, tables: Iterable[str] | None = None) -> Schema:
    """Tables (all visible user tables, or just ``tables``) and their indexes, from the catalog.

    ``rows`` is ``pg_class.reltuples`` (None when the table was never analysed), ``size_bytes``
    is ``pg_table_size``; column ``stats`` come from ``pg_stats`` (None before ANALYZE).
    """
    names = sorted(set(tables)) if tables is not None else None
    with db.transaction():
        table_rows = db.fetchall(_TABLES, {"names": names}, what="reading pg_class")
        oids = [r[0] for r in table_rows]
        columns = db.fetchall(_COLUMNS, {"oids": oids}, what="reading pg_attribute/pg_stats")
        fks = db.fetchall(_FOREIGN_KEYS, {"oids": oids}, what="reading pg_constraint")
        index_rows = db.fetchall(_INDEXES, {"oids": oids}, what="reading pg_index")

    name_of = {oid: relname for oid, relname, *_ in table_rows}
    references = {(oid, col): ref for oid, col, ref in fks}
    indexes = tuple(_index(name_of[r[0]], r) for r in index_rows)
    unique_columns = {
        (i.table, i.elements[0].column)
        for i in indexes
        if i.unique
        and i.valid
        and len(i.elements) == 1
        and i.condition is None
        and i.elements[0].column
    }
    primary_columns = {
        (i.table, i.elements[0].column)
        for i, row in zip(indexes, index_rows, strict=True)
        if row[4] and len(i.elements) == 1  # pg_index.indisprimary
    }
    cols_by_table: dict[int, list[Column]] = {oid: [] for oid in oids}
    for oid, name, db_type, nullable, null_frac, n_distinct, mcv, mcf, corr in columns:
        stats = None
        if n_distinct is not None:
            stats = ColumnStats(
                null_frac=float(null_frac or 0.0),
                n_distinct=float(n_distinct),
                most_common_vals=tuple(mcv or ()),
                most_common_freqs=tuple(float(f) for f in (mcf or ())),
                correlation=None if corr is None else float(corr),
            )
        cols_by_table[oid].append(
            Column(
                name=name,
                field="",
                db_type=db_type,
                null=bool(nullable),
                unique=(name_of[oid], name) in unique_columns,
                primary_key=(name_of[oid], name) in primary_columns,
                references=references.get((oid, name)),
                stats=stats,
            )
        )
    result = {}
    for oid, relname, reltuples, size, _relpages, partitioned, partitions in table_rows:
        # reltuples is -1 until the first VACUUM/ANALYZE: unknown, not empty.
        rows = None if reltuples is None or reltuples < 0 else int(reltuples)
        result[relname] = Table(
            name=relname,
            columns=tuple(cols_by_table[oid]),
            rows=rows,
            size_bytes=int(size) if size is not None else None,
            partitioned=bool(partitioned),
            partitions=tuple(partitions or ()),
        )
    return Schema(result, indexes, db.server_version)


def _index(table: str, row: tuple) -> ExistingIndex:
    (
        _,
        name,
        method,
        unique,
        _primary,
        valid,
        nkey,
        options,
        defs,
        is_column,
        predicate,
        size,
        scans,
        indexdef,
    ) = row
    # The same parser as the models' DDL, so a model index and its catalog twin compare equal.
    parsed = parse_index_sql(indexdef, origin="catalog")
    if parsed is not None and len(parsed.elements) == nkey:
        elements, include = parsed.elements, parsed.include
    else:  # unusual syntax sqlglot cannot read: one key at a time
        elements = tuple(
            IndexElement(column=_unquote(defs[k]), descending=_descending(options, k))
            if is_column[k]
            else IndexElement(
                expression=expression_key(defs[k]), descending=_descending(options, k)
            )
            for k in range(nkey)
        )
        include = tuple(_unquote(d) for d in defs[nkey:])
    return ExistingIndex(
        table=table,
        name=name,
        elements=elements,
        origin="catalog",
        unique=bool(unique),
        condition=predicate,
        include=include,
        method=method,
        valid=bool(valid),
        declared=False,
        size_bytes=int(size) if size is not None else None,
        scans=int(scans) if scans is not None else None,
    )


def _descending(options: list[int] | None, k: int) -> bool:
    return bool(options[k] & 1) if options and k < len(options) else False


def _unquote(identifier: str) -> str:
    if len(identifier) >= 2 and identifier[0] == identifier[-1] == '"':
        return identifier[1:-1].replace('""', '"')
    return identifier
