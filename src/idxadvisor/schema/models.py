"""The schema: tables, columns and the indexes that already exist.

Built from the Django models (primary keys, unique fields, ``db_index``, FK indexes,
``Meta.indexes``, ``unique_together``, ``UniqueConstraint``) and, with a database, from the live
catalog (:mod:`idxadvisor.schema.catalog`). Index keys are :class:`IndexElement` so a model index
and a catalog index compare equal when they index the same thing.
"""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from idxadvisor.sql.canonical import canonical_key, canonical_tree
from idxadvisor.types.schema import (
    BTREE,
    Column,
    ExistingIndex,
    IndexElement,
    IndexOrigin,
    Schema,
    Table,
)

if TYPE_CHECKING:
    from django.db.models import Model


def expression_key(sql: str) -> str:
    """A canonical text for an index or predicate expression, so equal things compare equal:
    :func:`idxadvisor.sql.canonical.canonical_key` (kept under this name for its importers).

    >>> expression_key('(UPPER("monitoring_userprofile"."email"::text))')
    'UPPER(email)'
    >>> expression_key('"t"."is_active" = TRUE')
    'is_active'
    """
    return canonical_key(sql)


def parse_index_sql(
    sql: str, *, origin: IndexOrigin, model: str | None = None
) -> ExistingIndex | None:
    """An index from its ``CREATE [UNIQUE] INDEX`` statement (Django's or ``pg_get_indexdef``).

    >>> ix = parse_index_sql(
    ...     'CREATE INDEX "p_st" ON "t" ("status" DESC, "email") INCLUDE ("code") '
    ...     "WHERE \\"status\\" IN ('a', 'b')", origin="Meta.indexes")
    >>> ix.columns, ix.include, ix.condition
    (('status', 'email'), ('code',), "status IN ('a', 'b')")
    """
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except (ParseError, TokenError):
        return None
    index = tree.this if isinstance(tree, exp.Create) else None
    if not isinstance(index, exp.Index):
        return None
    params = index.args.get("params")
    table = index.args.get("table")
    if params is None or table is None:
        return None
    elements = tuple(_element(o) for o in params.args.get("columns") or [])
    where = params.args.get("where")
    using = params.args.get("using")
    return ExistingIndex(
        table=table.name,
        name=index.name,
        elements=elements,
        origin=origin,
        unique=bool(tree.args.get("unique")),
        condition=canonical_tree(where.this) if where is not None else None,
        include=tuple(i.name for i in params.args.get("include") or []),
        method=using.name.lower() if using is not None else BTREE,
        model=model,
    )


def _element(node: exp.Expr) -> IndexElement:
    descending = bool(isinstance(node, exp.Ordered) and node.args.get("desc"))
    target = node.this if isinstance(node, exp.Ordered) else node
    opclass = None
    if isinstance(target, exp.Opclass):
        opclass = target.expression.name
        target = target.this
    while isinstance(target, exp.Paren):
        target = target.this
    if isinstance(target, exp.Column):
        return IndexElement(column=target.name, descending=descending, opclass=opclass)
    return IndexElement(expression=canonical_tree(target), descending=descending, opclass=opclass)


def _constraint_index(
    table: str, node: exp.Expr, origin: IndexOrigin, model: str | None
) -> ExistingIndex | None:
    """The unique index behind ``CONSTRAINT "x" UNIQUE (a, b)`` or ``PRIMARY KEY (a)``."""
    kind = node.args.get("kind") if isinstance(node, exp.Constraint) else node
    name = node.name if isinstance(node, exp.Constraint) else ""
    if isinstance(kind, exp.Constraint):
        kind = kind.expressions[0] if kind.expressions else None
    cols: list[str] = []
    if isinstance(node, exp.Constraint):
        for c in node.expressions:
            if isinstance(c, exp.UniqueColumnConstraint | exp.PrimaryKey):
                kind = c
    if isinstance(kind, exp.UniqueColumnConstraint):
        schema = kind.this
        cols = [e.name for e in (schema.expressions if schema is not None else [])]
    elif isinstance(kind, exp.PrimaryKey):
        cols = [e.name for e in kind.expressions]
    if not cols:
        return None
    return ExistingIndex(
        table=table,
        name=name,
        elements=tuple(IndexElement(column=c) for c in cols),
        origin=origin,
        unique=True,
        model=model,
    )


def from_models(
    models: Iterable[type[Model]] | None = None, *, tables: Iterable[str] | None = None
) -> Schema:
    """Tables and declared indexes of the installed models (the app registry when None),
    only those of ``tables`` when given (a pre-commit run reads a few of hundreds).

    The indexes are read from the DDL Django itself would run to create each table
    (``schema_editor(collect_sql=True).create_model``), so names, the ``_like`` pattern-ops
    indexes, FK indexes and constraint-backed unique indexes are exactly Django's. The DDL is
    PostgreSQL's whatever the project's ENGINE (:func:`idxadvisor.project.compile_connection`),
    and no database connection is opened.

    Every table a query can name is known: the auto-created many-to-many tables
    (``auth_group_permissions``), unmanaged models (legacy tables, views: Django never creates
    them, but their declared keys are what the query planner sees there), and proxy models,
    which read their concrete model's table.
    """
    from django.apps import apps

    from idxadvisor.project import compile_connection

    connection = compile_connection()
    if models is None:
        models = apps.get_models(include_auto_created=True)
    wanted = set(tables) if tables is not None else None
    found: dict[str, Table] = {}
    indexes: list[ExistingIndex] = []
    for model in models:
        meta = model._meta
        if meta.proxy or meta.swapped or meta.db_table in found:
            continue  # a proxy's table is its concrete model's, read with that model
        if wanted is not None and meta.db_table not in wanted:
            continue
        label = f"{meta.app_label}.{meta.object_name}"
        found[meta.db_table] = _table_of(model, connection)
        for statement in _create_model_ddl(model, connection):
            indexes.extend(_indexes_in_ddl(statement, meta.db_table, label))
    return Schema(found, tuple(indexes))


def _create_model_ddl(model: type[Model], connection: Any) -> list[str]:
    """The statements ``create_model`` would run for the model's own table, deferred ones
    (indexes, FKs) included; those of its auto-created m2m tables are left to those models.

    The editor is driven without its ``with`` block: on exit Django 4.2 runs the deferred SQL
    through ``execute(sql, params=())``, which quotes through a live connection.
    """
    editor = connection.schema_editor(collect_sql=True, atomic=False)
    editor.deferred_sql = []
    editor.create_model(model)
    meta = model._meta
    if not meta.managed:
        # Django's _model_indexes_sql returns nothing for an unmanaged model (it never creates
        # one); the field and Meta indexes it declares are what it would be, as for the others.
        for f in meta.local_fields:
            editor.deferred_sql.extend(editor._field_indexes_sql(model, f))
        editor.deferred_sql.extend(index.create_sql(model, editor) for index in meta.indexes)
    return [
        statement
        for statement in (*editor.collected_sql, *(str(sql) for sql in editor.deferred_sql))
        if _ddl_table(statement) in (meta.db_table, None)
    ]


def _ddl_table(statement: str) -> str | None:
    """The table a CREATE TABLE / CREATE INDEX / ALTER TABLE statement is about.

    >>> _ddl_table('CREATE TABLE "a_b" ("id" integer)'), _ddl_table('CREATE INDEX "x" ON "t" ("c")')
    ('a_b', 't')
    """
    try:
        tree = sqlglot.parse_one(statement, read="postgres")
    except (ParseError, TokenError):
        return None
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        table = tree.this.args.get("table")
        return table.name if table is not None else None
    if isinstance(tree, exp.Create | exp.Alter):
        table = tree.find(exp.Table)
        return table.name if table is not None else None
    return None


def _table_of(model: type[Model], connection: Any) -> Table:
    meta = model._meta
    columns = []
    for f in meta.local_concrete_fields:
        remote = f.remote_field.model._meta.db_table if f.is_relation and f.remote_field else None
        columns.append(
            Column(
                name=f.column,
                field=f.name,
                db_type=f.db_type(connection) or "",
                null=f.null,
                unique=f.unique,
                primary_key=f.primary_key,
                references=remote,
                choices=bool(getattr(f, "choices", None))
                or f.get_internal_type() == "BooleanField",
                insert_timestamp=_is_insert_timestamp(f),
                update_timestamp=bool(getattr(f, "auto_now", False)),
            )
        )
    try:
        source = inspect.getsourcefile(model)
    except TypeError:
        source = None
    return Table(
        name=meta.db_table,
        columns=tuple(columns),
        model=f"{meta.app_label}.{meta.object_name}",
        app_label=meta.app_label,
        model_name=meta.object_name,
        source_file=source,
        managed=bool(meta.managed),
        auto_created=bool(meta.auto_created),
        generated=not meta.auto_created and not written_in_source(model),
    )


def written_in_source(model: type[Model]) -> bool:
    """Whether a ``class`` statement of ``model`` is written in the source: at the top level of
    its module's file or of a file beside it (wagtail's ``Page`` says ``wagtail.models`` and is
    written in ``wagtail/models/pages.py``). A model made at run time (django-simple-history's
    ``HistoricalPoll``, set in ``shop.models``) is not: no Meta of it can be edited, no field
    of it declared otherwise."""
    try:
        source = inspect.getsourcefile(model)
    except TypeError:
        return False
    if source is None:
        return False
    if model.__name__ in _top_level_classes(source):
        return True
    return any(
        model.__name__ in _top_level_classes(str(sibling))
        for sibling in sorted(Path(source).parent.glob("*.py"))
    )


@functools.cache
def _top_level_classes(path: str) -> frozenset[str]:
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    return frozenset(n.name for n in tree.body if isinstance(n, ast.ClassDef))


def _is_insert_timestamp(f) -> bool:
    """A date/time field set once when the row is created: its values grow with the table."""
    from django.utils import timezone

    if f.get_internal_type() not in ("DateTimeField", "DateField"):
        return False
    return bool(getattr(f, "auto_now_add", False)) or f.default in (timezone.now,)


def _indexes_in_ddl(statement: str, table: str, model: str) -> list[ExistingIndex]:
    try:
        tree = sqlglot.parse_one(statement, read="postgres")
    except (ParseError, TokenError):
        return []
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        origin = "unique" if tree.args.get("unique") else "Meta.indexes or db_index"
        ix = parse_index_sql(statement, origin=origin, model=model)
        return [_with_django_origin(ix, model)] if ix else []
    found: list[ExistingIndex] = []
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema):
        for col in tree.this.expressions:
            if isinstance(col, exp.ColumnDef):
                for c in col.args.get("constraints") or []:
                    if isinstance(c.kind, exp.PrimaryKeyColumnConstraint):
                        found.append(
                            _single(table, col.name, f"{table}_pkey", "primary key", model)
                        )
                    elif isinstance(c.kind, exp.UniqueColumnConstraint):
                        found.append(
                            _single(table, col.name, f"{table}_{col.name}_key", "unique", model)
                        )
            elif isinstance(col, exp.Constraint):
                ix = _constraint_index(table, col, "UniqueConstraint", model)
                if ix:
                    found.append(ix)
            elif isinstance(col, exp.PrimaryKey):
                cols = tuple(IndexElement(column=e.name) for e in col.expressions)
                found.append(
                    ExistingIndex(table, f"{table}_pkey", cols, "primary key", True, model=model)
                )
    elif isinstance(tree, exp.Alter):
        for action in tree.args.get("actions") or []:
            nodes = [action]
            if isinstance(action, exp.AddConstraint):
                nodes = [action.this, *action.expressions]
            for node in nodes:
                if isinstance(node, exp.Constraint):
                    ix = _constraint_index(table, node, "unique_together", model)
                    if ix:
                        found.append(ix)
    return found


def _single(table: str, column: str, name: str, origin: str, model: str) -> ExistingIndex:
    return ExistingIndex(table, name, (IndexElement(column=column),), origin, True, model=model)


def _with_django_origin(ix: ExistingIndex, model: str) -> ExistingIndex:
    """Name where a model index comes from, for the report ("foreign key", "db_index", …)."""
    from django.apps import apps

    if ix.origin == "unique":
        return replace(ix, origin="UniqueConstraint")
    model_cls = apps.get_model(model)
    declared = {i.name for i in model_cls._meta.indexes}
    if ix.name in declared:
        return replace(ix, origin="Meta.indexes")
    if len(ix.elements) == 1 and ix.elements[0].column:
        col = ix.elements[0].column
        for f in model_cls._meta.local_concrete_fields:
            if f.column == col:
                kind = "foreign key" if f.is_relation else "db_index"
                if ix.elements[0].opclass:
                    kind += f" ({ix.elements[0].opclass})"
                return replace(ix, origin=kind)
    return replace(ix, origin="Meta.indexes")
