"""An index on a partitioned table, built without blocking writes.

``CREATE INDEX CONCURRENTLY`` is refused on a partitioned parent, so the migration runs
PostgreSQL's documented sequence instead (:func:`idxadvisor.generate.guards.
build_partitioned_index`): ``CREATE INDEX … ON ONLY`` the parent, a concurrent build per
partition, ``ALTER INDEX … ATTACH PARTITION`` each; the partitions are read from the catalog
when ``migrate`` runs. ``SeparateDatabaseAndState`` keeps Django's state in step: its state side
is the plain ``AddIndex`` that ``Meta.indexes`` declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idxadvisor.generate.guards import BUILD_PARTITIONED, DROP_PARTITIONED, GuardCall

if TYPE_CHECKING:
    from django.db.models import Model


def partitioned_operations(
    model: type[Model], index: Any, comment: list[str]
) -> list[tuple[Any, list[str]]]:
    """The one operation that builds ``index`` on ``model``'s partitioned table."""
    from django.db import migrations

    table = model._meta.db_table
    build = migrations.RunPython(
        GuardCall(BUILD_PARTITIONED, (table, index.name, index_tail(model, index))),
        GuardCall(DROP_PARTITIONED, (index.name,)),
    )
    model_name = model._meta.model_name
    assert model_name is not None  # None only before the class is built
    op = migrations.SeparateDatabaseAndState(
        database_operations=[build],
        state_operations=[migrations.AddIndex(model_name=model_name, index=index)],
    )
    return [(op, comment)]


def index_tail(model: type[Model], index: Any) -> str:
    """What Django's ``CREATE INDEX`` puts after ``ON "table"``: method, keys, INCLUDE, WHERE;
    the same for the parent and every partition (they share the columns)."""
    from idxadvisor.project import compile_connection

    connection = compile_connection()  # PostgreSQL's SQL, and no server is ever asked
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        sql = str(index.create_sql(model, editor))
        on = f" ON {editor.quote_name(model._meta.db_table)}"
    _, found, tail = sql.partition(on)
    if not found:
        raise ValueError(f"unexpected CREATE INDEX from Django: {sql}")
    return tail.strip()
