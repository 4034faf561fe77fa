"""The pieces of a generated migration: Django objects from ``models.Index(...)`` source, and the
small guard functions the migration file carries with it.

The migration a user commits must run without idxadvisor installed, so the guards are written
into the file as source (:data:`GUARDS_SOURCE`) and referenced by name. :class:`GuardCall` is what
the operations hold while Django's ``MigrationWriter`` renders them; its serializer prints
``rebuild_unfinished_index("table", "name")`` and imports nothing.

>>> found = evaluate_index_source("models.Index(Upper('email'), name='t_email_idx')")
>>> found.value.name, [(i.module, i.name) for i in found.imports]
('t_email_idx', [('django.db.models.functions', 'Upper')])
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from typing import Any

from django.db.migrations.serializer import BaseSerializer

from idxadvisor.errors import UsageError
from idxadvisor.generate.model_edit import NeededImport

# Where bare names in an index's source come from, searched in this order.
_NAME_MODULES = (
    "django.db.models",
    "django.db.models.functions",
    "django.contrib.postgres.indexes",
    "django.contrib.postgres.search",
)
_METHODS = frozenset({"asc", "desc"})  # F("x").desc()


class UnsupportedIndexSource(UsageError):
    """The ``models.Index(...)`` source uses something this module will not evaluate."""


@dataclass(frozen=True, slots=True)
class EvaluatedSource:
    value: Any  # the Django object (Index, UniqueConstraint)
    imports: tuple[NeededImport, ...]  # bare names the source uses, for the models file


def evaluate_index_source(source: str) -> EvaluatedSource:
    """Build the Django object that ``source`` (e.g. ``models.Index(...)``) describes.

    Only calls of Django classes, literals, lists, ``Q`` combinations and ``.asc()/.desc()`` are
    allowed: the same text goes into the user's models file, so evaluating it here guarantees that
    the migration and the model declare equal indexes (which is what ``makemigrations`` checks).
    """
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsupportedIndexSource(f"not a Python expression: {source!r}") from exc
    imports: dict[str, NeededImport] = {}
    value = _eval(tree.body, imports, source)
    return EvaluatedSource(value, tuple(imports.values()))


def _resolve(name: str, imports: dict[str, NeededImport], source: str) -> Any:
    for module_name in _NAME_MODULES:
        module = importlib.import_module(module_name)
        obj = getattr(module, name, None)
        if isinstance(obj, type):
            imports.setdefault(name, NeededImport(module_name, name))
            return obj
    raise UnsupportedIndexSource(f"unknown name {name!r} in {source!r}")


def _eval(node: ast.AST, imports: dict[str, NeededImport], source: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool | None):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        items = [_eval(e, imports, source) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
        return {
            _eval(k, imports, source): _eval(v, imports, source)  # type: ignore[arg-type]
            for k, v in zip(node.keys, node.values, strict=True)
        }
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Invert):
        operand = _eval(node.operand, imports, source)
        return -operand if isinstance(node.op, ast.USub) else ~operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr):
        left, right = _eval(node.left, imports, source), _eval(node.right, imports, source)
        return left & right if isinstance(node.op, ast.BitAnd) else left | right
    if isinstance(node, ast.Call):
        func = _callee(node.func, imports, source)
        args = [_eval(a, imports, source) for a in node.args]
        kwargs = {k.arg: _eval(k.value, imports, source) for k in node.keywords if k.arg}
        if len(kwargs) != len(node.keywords):
            raise UnsupportedIndexSource(f"**kwargs are not supported in {source!r}")
        return func(*args, **kwargs)
    raise UnsupportedIndexSource(
        f"unsupported syntax {type(node).__name__} in {source!r}"
    )


def _callee(node: ast.AST, imports: dict[str, NeededImport], source: str) -> Any:
    if isinstance(node, ast.Name):
        return _resolve(node.id, imports, source)
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id == "models":
            from django.db import models

            obj = getattr(models, node.attr, None)
            if isinstance(obj, type):
                return obj
        elif node.attr in _METHODS:
            return getattr(_eval(node.value, imports, source), node.attr)
    raise UnsupportedIndexSource(f"unsupported call in {source!r}")


# --- guards written into the migration file ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class GuardCall:
    """A call of one of the guard factories of :data:`GUARDS_SOURCE`, as RunPython's code.

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


REBUILD = "rebuild_unfinished_index"
REFUSE_DUPLICATES = "refuse_duplicates"

GUARDS_SOURCE = '''

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
                "(%s) = (%s) on %d rows"
                % (key_sql, ", ".join(repr(v) for v in row[:-1]), row[-1])
                for row in rows
            )
            raise IntegrityError(
                "cannot build unique index %s on %s: the table has duplicates, e.g. %s. "
                "Remove them and run migrate again; nothing was built."
                % (index_name, table, examples)
            )

    return forwards
'''
