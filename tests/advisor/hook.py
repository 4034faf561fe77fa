"""The ``hook`` table the advisor tests share: a schema built by hand, queries through the real
parser (sqlglot), so these tests need no Django project."""

from __future__ import annotations

from dataclasses import replace

from idxadvisor.advisor import advise
from idxadvisor.patterns.extractor import extract
from idxadvisor.types.schema import Column, ColumnStats, ExistingIndex, IndexElement, Schema, Table
from idxadvisor.types.workload import Query

HOOK = "hook"


def _schema(
    *indexes: ExistingIndex, stats: dict[str, ColumnStats] | None = None, rows: int | None = None
) -> Schema:
    stats = stats or {}
    columns = (
        Column("id", "id", "bigint", unique=True, primary_key=True),
        Column("channel_id", "channel", "bigint", references="channel"),
        Column("status", "status", "varchar(16)", choices=True),
        Column("next_retry_at", "next_retry_at", "timestamptz", null=True),
        Column("created_at", "created_at", "timestamptz", insert_timestamp=True),
        Column("email", "email", "varchar(254)"),
        Column("org", "org", "integer"),
        Column("is_active", "is_active", "boolean", choices=True),
    )
    columns = tuple(replace(c, stats=stats.get(c.name)) for c in columns)
    pk = ExistingIndex(HOOK, "hook_pkey", (IndexElement("id"),), "primary key", unique=True)
    return Schema({HOOK: Table(HOOK, columns, rows=rows)}, (pk, *indexes))


def _advise(sql: str, schema: Schema):
    query = Query(id="q1", sql=sql, fingerprint=sql, source="sql")
    return advise(extract(query), schema)


def _advise_many(*sqls: str, schema: Schema | None = None):
    """Advice for several statements at once (ids q1, q2, …), on the hook table by default."""
    queries = [Query(f"q{i}", sql, sql, "sql") for i, sql in enumerate(sqls, 1)]
    return advise(tuple(p for q in queries for p in extract(q)), schema or _schema())


def _keys(rec) -> list[tuple[str, bool]]:
    return [(e.key, e.descending) for e in rec.candidate.elements]
