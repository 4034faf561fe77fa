"""The small functions a generated migration carries with it, as real, tested Python.

A migration a user commits must run without idxadvisor installed, so each guard below is
written into the migration file from its own source (:func:`guard_source`, through
``inspect.getsource``) and referenced by name from a ``RunPython``. Each is a factory: the
migration calls ``rebuild_unfinished_index("table", "name")`` and gets the ``forwards(apps,
schema_editor)`` function RunPython runs. :class:`GuardCall` is what the operations hold while
Django's ``MigrationWriter`` renders them; its serializer prints that call and imports nothing.
So the guards may use only the standard library and Django, imported inside the function.

>>> print(guard_source(["refuse_duplicates"]).splitlines()[0])
def refuse_duplicates(table, index_name, key_sql, where_sql):
>>> GuardCallSerializer(GuardCall("rebuild_unfinished_index", ("t", "t_idx"))).serialize()
('rebuild_unfinished_index("t", "t_idx")', set())
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.migrations.serializer import BaseSerializer

# ruff: noqa: UP031 — the guards run in the user's migration: %-formatting, as Django writes SQL.


def rebuild_unfinished_index(table, index_name):
    """Drop what an unfinished run of this migration left of ``index_name``, so it is rebuilt.

    A failed CREATE INDEX CONCURRENTLY (cancelled, deadlock, duplicate key) leaves an INVALID
    index that PostgreSQL keeps updating but never uses; an index this migration built before a
    later step failed is valid but not yet recorded as applied. Either way, building it again is
    the only way to be sure it is whole. Non-atomic migration: DROP ... CONCURRENTLY is allowed.
    """

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql" or schema_editor.collect_sql:
            return  # sqlmigrate prints SQL; it must not look at (or change) the database
        quote = schema_editor.quote_name
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid, c.conname FROM pg_index i"
                " LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid"
                " AND c.conrelid = i.indrelid AND c.contype IN ('u', 'p', 'x')"
                " WHERE i.indexrelid = to_regclass(%s) AND i.indrelid = to_regclass(%s)",
                [quote(index_name), quote(table)],
            )
            row = cursor.fetchone()
        if row is None:
            return
        if row[1]:
            schema_editor.execute(
                "ALTER TABLE %s DROP CONSTRAINT %s" % (quote(table), quote(row[1]))
            )
        else:
            schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS %s" % quote(index_name))

    return forwards


def refuse_duplicates(table, index_name, key_sql, where_sql):
    """Fail before building the unique index ``index_name`` when the table has duplicates.

    Without this check the build would fail half-way and leave an INVALID index behind.
    """

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql" or schema_editor.collect_sql:
            return  # sqlmigrate prints SQL; it must not look at (or change) the database
        from django.db import IntegrityError

        quote = schema_editor.quote_name
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT %s, count(*) FROM %s WHERE ROW(%s) IS NOT NULL%s"
                " GROUP BY %s HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 3"
                % (key_sql, quote(table), key_sql, where_sql, key_sql)
            )
            rows = cursor.fetchall()
        if rows:
            examples = "; ".join(
                "(%s) = (%s) on %d rows" % (key_sql, ", ".join(repr(v) for v in row[:-1]), row[-1])
                for row in rows
            )
            raise IntegrityError(
                "cannot build unique index %s on %s: the table has duplicates, e.g. %s. "
                "Remove them and run migrate again; nothing was built."
                % (index_name, table, examples)
            )

    return forwards


def build_partitioned_index(table, index_name, index_sql):
    """Build ``index_name`` on the partitioned table ``table`` without blocking writes.

    CREATE INDEX CONCURRENTLY is refused on a partitioned table, so, as PostgreSQL documents:
    an index ON ONLY the parent (invalid until every partition has one), then one concurrent
    build per partition, each attached to it; a sub-partitioned partition gets the same
    treatment. ``index_sql`` is what follows ``ON <table>`` (method, keys, INCLUDE, WHERE).
    Partitions are read from the catalog now, at migrate time. Every step can be run again: an
    attached partition is skipped, an INVALID index left by an interrupted concurrent build is
    dropped and rebuilt, a built but unattached one is attached.
    """
    import hashlib

    def partition_index_name(parent_index, partition):
        # Stable (so a second run finds it), unique per partition and within 63 bytes.
        digest = hashlib.md5(partition.encode("utf-8")).hexdigest()[:8]
        return "%s_%s" % (parent_index[:50], digest)

    def build(schema_editor, cursor, parent, parent_index):
        quote = schema_editor.quote_name
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS %s ON ONLY %s %s"
            % (quote(parent_index), quote(parent), index_sql)
        )
        cursor.execute(
            "SELECT c.relname, c.relkind = 'p',"
            " (SELECT x.indexrelid::regclass::text FROM pg_inherits ii"
            "  JOIN pg_index x ON x.indexrelid = ii.inhrelid"
            "  WHERE ii.inhparent = to_regclass(%s) AND x.indrelid = c.oid)"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [quote(parent_index), quote(parent)],
        )
        for partition, partitioned, attached in cursor.fetchall():
            if attached is not None:
                continue  # attached by an earlier run, or by PostgreSQL itself
            name = partition_index_name(parent_index, partition)
            if partitioned:
                build(schema_editor, cursor, partition, name)
            else:
                cursor.execute(
                    "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                    [quote(name)],
                )
                row = cursor.fetchone()
                if row is not None and not row[0]:
                    # An interrupted concurrent build: never used, always maintained. Rebuild.
                    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS %s" % quote(name))
                schema_editor.execute(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s %s"
                    % (quote(name), quote(partition), index_sql)
                )
            schema_editor.execute(
                "ALTER INDEX %s ATTACH PARTITION %s" % (quote(parent_index), quote(name))
            )

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        if schema_editor.collect_sql:
            # sqlmigrate: show the plan; partitions are known only when migrate runs.
            quote = schema_editor.quote_name
            schema_editor.collected_sql.append(
                "CREATE INDEX IF NOT EXISTS %s ON ONLY %s %s;"
                % (quote(index_name), quote(table), index_sql)
            )
            schema_editor.collected_sql.append(
                "-- then, for each partition found at migrate time: CREATE INDEX CONCURRENTLY "
                "IF NOT EXISTS ... ON <partition> %s; ALTER INDEX %s ATTACH PARTITION ...;"
                % (index_sql, quote(index_name))
            )
            return
        with schema_editor.connection.cursor() as cursor:
            build(schema_editor, cursor, table, index_name)

    return forwards


def drop_partitioned_index(index_name):
    """Drop ``index_name`` and the partition indexes attached to it (reverse of a build).

    DROP INDEX CONCURRENTLY is refused on a partitioned index; the plain drop is brief.
    """

    def backwards(apps, schema_editor):
        schema_editor.execute("DROP INDEX IF EXISTS %s" % schema_editor.quote_name(index_name))

    return backwards


GUARDS = {
    f.__name__: f
    for f in (
        rebuild_unfinished_index,
        refuse_duplicates,
        build_partitioned_index,
        drop_partitioned_index,
    )
}
REBUILD = rebuild_unfinished_index.__name__
REFUSE_DUPLICATES = refuse_duplicates.__name__
BUILD_PARTITIONED = build_partitioned_index.__name__
DROP_PARTITIONED = drop_partitioned_index.__name__


def guard_source(used: Iterable[str]) -> str:
    """The source of the named guards, in this module's order, for the migration file."""
    wanted = set(used)
    # Unannotated on purpose: the migration shows them as written, in the user's own style.
    chunks = [inspect.getsource(f).rstrip("\n") for name, f in GUARDS.items() if name in wanted]
    return "\n\n\n".join(chunks)


@dataclass(frozen=True, slots=True)
class GuardCall:
    """A call of one of the guard factories above, as RunPython's code.

    Never run in this process: the migration file defines the function it names.
    """

    function: str
    args: tuple[str, ...]

    def __call__(self, apps: Any, schema_editor: Any) -> None:  # RunPython wants a callable
        raise RuntimeError("GuardCall only exists to be written into a migration file")


class GuardCallSerializer(BaseSerializer):
    def serialize(self) -> tuple[str, set[str]]:
        call: GuardCall = self.value
        args = ", ".join(_py_string(a) for a in call.args)
        return f"{call.function}({args})", set()


def _py_string(text: str) -> str:
    """A double-quoted literal, as black would write it (repr picks single quotes)."""
    if '"' in text and "'" not in text:
        return repr(text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
