"""Compiling querysets with no database: executing a compiler hands back its SQL instead.

:func:`no_database` swaps Django's compiler execution for a capture (raises :class:`Captured`
with the SQL and params), inserts for :class:`InsertReached`, and opening a connection for
:class:`DatabaseTouched`; :func:`runtime_value` is a value known only at run time, compiled to
one ``%s`` whose param is :data:`~idxadvisor.sources.static.sql_render.RUNTIME`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from idxadvisor.project import COMPILE_ALIAS, compile_connection
from idxadvisor.sources.static.sql_render import RUNTIME


class Captured(BaseException):  # BaseException: user code's `except Exception` can't eat it
    def __init__(self, sql: str | None, params: tuple[Any, ...]) -> None:
        super().__init__("statement captured")
        self.sql = sql
        self.params = params


class DatabaseTouched(BaseException):
    pass


class InsertReached(BaseException):
    pass


def _runtime_value_class() -> type:
    from django.db.models import Field, Value

    class RuntimeValue(Value):
        """A value only known at run time: compiles to one ``%s`` whose param is RUNTIME.

        A ``Value`` subclass so lookups don't wrap it in parentheses and fields don't try to
        convert it.
        """

        def __init__(self, serial: int, output_field: Any = None) -> None:
            super().__init__(serial, output_field=output_field or Field())

        def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
            return "%s", [RUNTIME]

    return RuntimeValue


_RUNTIME_VALUE_CLASS: type | None = None


def runtime_value(serial: int, output_field: Any = None) -> Any:
    global _RUNTIME_VALUE_CLASS
    if _RUNTIME_VALUE_CLASS is None:
        _RUNTIME_VALUE_CLASS = _runtime_value_class()
    return _RUNTIME_VALUE_CLASS(serial, output_field)


@contextmanager
def no_database() -> Iterator[None]:
    """While active: executing a compiler raises :class:`Captured` with its SQL instead (an
    INSERT: :class:`InsertReached`), and opening any connection raises
    :class:`DatabaseTouched`. Everything is restored on exit."""
    from django.core.exceptions import EmptyResultSet
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler, SQLInsertCompiler

    compile_connection()
    original_execute = SQLCompiler.execute_sql
    original_insert = SQLInsertCompiler.execute_sql
    original_ensure = BaseDatabaseWrapper.ensure_connection

    def capture(self: Any, *args: Any, **kwargs: Any) -> Any:
        compiler = self.query.get_compiler(using=COMPILE_ALIAS, elide_empty=self.elide_empty)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            raise Captured(None, ()) from None
        raise Captured(sql or None, tuple(params))

    def refuse(self: Any) -> None:
        raise DatabaseTouched()

    def insert(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise InsertReached()

    SQLCompiler.execute_sql = capture  # type: ignore[method-assign]
    SQLInsertCompiler.execute_sql = insert  # type: ignore[method-assign]
    BaseDatabaseWrapper.ensure_connection = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQLCompiler.execute_sql = original_execute  # type: ignore[method-assign]
        SQLInsertCompiler.execute_sql = original_insert  # type: ignore[method-assign]
        BaseDatabaseWrapper.ensure_connection = original_ensure  # type: ignore[method-assign]
