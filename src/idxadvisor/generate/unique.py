"""The UNIQUE path: a unique index built concurrently, then attached as the constraint the
model declares, so writes are never blocked and Django's state still says ``AddConstraint``.

``SeparateDatabaseAndState``: the database side refuses duplicates first (showing some), builds
``CREATE UNIQUE INDEX CONCURRENTLY`` and, when Django would make the constraint a real one, runs
``ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX``; the state side adds the
``UniqueConstraint``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from idxadvisor.generate.guards import REFUSE_DUPLICATES, GuardCall
from idxadvisor.generate.results import Skip
from idxadvisor.types.advice import Recommendation

if TYPE_CHECKING:
    from django.db.models import Model


def unique_operations(
    rec: Recommendation, model: type[Model], constraint: Any, guard: Any, comment: list[str]
) -> list[tuple[Any, list[str]]] | Skip:
    """CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX (when Django would
    make it a constraint), behind a SeparateDatabaseAndState whose state adds the constraint."""
    from django.db import migrations, models

    from idxadvisor.project import compile_connection

    connection = compile_connection()  # PostgreSQL's SQL whatever the settings' engine
    if constraint.deferrable or getattr(constraint, "nulls_distinct", None) is not None:
        return Skip(rec.name, "a deferrable or NULLS NOT DISTINCT constraint is not generated")
    editor = connection.schema_editor(collect_sql=True, atomic=False)
    # The same keys as an Index, for Django's own CREATE INDEX SQL (then made UNIQUE).
    plain = models.Index(
        *constraint.expressions,
        fields=list(constraint.fields),
        name=constraint.name,
        condition=constraint.condition,
        include=constraint.include or None,
        opclasses=constraint.opclasses,
    )
    statement = plain.create_sql(model, editor, concurrently=True)
    create_sql = str(statement).replace("CREATE INDEX", "CREATE UNIQUE INDEX", 1)
    table_sql = editor.quote_name(model._meta.db_table)
    name_sql = editor.quote_name(rec.name)
    key_sql = str(statement.parts["columns"])
    condition = str(statement.parts.get("condition") or "")
    where_sql = re.sub(r"^\s*WHERE\s+", " AND ", condition) if condition.strip() else ""
    database_ops = [
        guard,
        migrations.RunPython(
            GuardCall(REFUSE_DUPLICATES, (model._meta.db_table, rec.name, key_sql, where_sql)),
            migrations.RunPython.noop,
        ),
        migrations.RunSQL(
            sql=create_sql + ";", reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name_sql};"
        ),
    ]
    # Django makes a plain UniqueConstraint an ALTER TABLE constraint and any other one a unique
    # index; the database must match, or RemoveConstraint would not find it later.
    if not (
        constraint.condition or constraint.include or constraint.expressions or constraint.opclasses
    ):
        database_ops.append(
            migrations.RunSQL(
                sql=f"ALTER TABLE {table_sql} ADD CONSTRAINT {name_sql} UNIQUE USING INDEX "
                f"{name_sql};",
                reverse_sql=f"ALTER TABLE {table_sql} DROP CONSTRAINT IF EXISTS {name_sql};",
            )
        )
    model_name = model._meta.model_name
    assert model_name is not None  # None only before the class is built
    op = migrations.SeparateDatabaseAndState(
        database_operations=database_ops,
        state_operations=[migrations.AddConstraint(model_name=model_name, constraint=constraint)],
    )
    return [(op, comment)]
