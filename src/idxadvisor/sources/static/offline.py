"""Compiling querysets with no database: executing a compiler hands back its SQL instead.

:func:`no_database` swaps Django's compiler execution for a capture (raises :class:`Captured`
with the SQL and params), inserts for :class:`InsertReached`, and opening a connection for
:class:`DatabaseTouched`; :func:`runtime_value` is a value known only at run time, compiled to
one ``%s`` whose param is :data:`~idxadvisor.sources.static.sql_render.RUNTIME`.

While active it also answers ``ContentType.objects.get_for_model()`` / ``get_for_models()`` /
``get_for_id()`` with a content type whose id is such a value: that id is given by the database
the code runs on (and Django caches it per process), so a generic-relation lookup
``filter(content_type=get_for_model(obj), object_pk=…)`` keeps its ``content_type_id = $1``
instead of failing on an object known only at run time.

It also makes ``timezone.now()`` give a :class:`ClockDatetime`: a value computed from the clock
in code the scan runs (a manager method's ``filter(locked_at__lt=now() - …)``) renders as a
parameter, not as the instant of the scan.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from idxadvisor.project import COMPILE_ALIAS, compile_connection
from idxadvisor.sources.static.sql_render import RUNTIME


class Captured(BaseException):  # BaseException: user code's `except Exception` can't eat it
    def __init__(self, sql: str | None, params: tuple[Any, ...]) -> None:
        super().__init__("statement captured")
        self.sql = sql
        self.params = params
        self.step: Any = None  # the chain's link whose call ran it, once the rebuilder knows


class DatabaseTouched(BaseException):
    pass


class InsertReached(BaseException):
    pass


def _runtime_value_class() -> tuple[type, type]:
    from django.db.models import Field, Value

    class RuntimeValue(Value):
        """A value only known at run time: compiles to one ``%s`` whose param is RUNTIME.

        A ``Value`` subclass so lookups don't wrap it in parentheses and fields don't try to
        convert it. Where Django hands the object itself to the driver as a param (the
        content type of a GenericRelation's join), ``RUNTIME_PARAM`` tells the renderer.
        """

        RUNTIME_PARAM = True

        def __init__(self, serial: int, output_field: Any = None) -> None:
            super().__init__(serial, output_field=output_field or Field())

        def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
            return "%s", [RUNTIME]

    class RuntimeRow(RuntimeValue):
        """A row known only at run time, where a filter takes it for its key (``filter(
        content_type=ct)``): compiles like that key, and its ``pk`` / ``id`` are that key."""

        @property
        def pk(self) -> Any:
            return self

        id = pk

    return RuntimeValue, RuntimeRow


_RUNTIME_CLASSES: tuple[type, type] | None = None


def _runtime_classes() -> tuple[type, type]:
    global _RUNTIME_CLASSES
    if _RUNTIME_CLASSES is None:
        _RUNTIME_CLASSES = _runtime_value_class()
    return _RUNTIME_CLASSES


def runtime_value(serial: int, output_field: Any = None) -> Any:
    return _runtime_classes()[0](serial, output_field)


def runtime_row(serial: int) -> Any:
    return _runtime_classes()[1](serial)


def is_runtime_row(value: Any) -> bool:
    return isinstance(value, _runtime_classes()[1])


def is_runtime_value(value: Any) -> bool:
    return isinstance(value, _runtime_classes()[0])


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
    restore_content_types = _run_time_content_types()
    restore_clock = _run_time_clock()
    try:
        yield
    finally:
        SQLCompiler.execute_sql = original_execute  # type: ignore[method-assign]
        SQLInsertCompiler.execute_sql = original_insert  # type: ignore[method-assign]
        BaseDatabaseWrapper.ensure_connection = original_ensure  # type: ignore[method-assign]
        restore_content_types()
        restore_clock()


class ClockDatetime(datetime.datetime):
    """The time a query runs at, as the scan's clock gave it: a parameter of the query, never
    the constant of one scan (``locked_at < now() - 5 minutes`` would change its text, its id
    and a ``check`` baseline on every run). Arithmetic keeps the class (Python 3.8+)."""

    RUNTIME_PARAM = True

    def date(self) -> datetime.date:
        return ClockDate(self.year, self.month, self.day)


class ClockDate(datetime.date):
    """Today, as the scan's clock gave it: a parameter too (see :class:`ClockDatetime`)."""

    RUNTIME_PARAM = True


def _run_time_clock() -> Callable[[], None]:
    """Make ``django.utils.timezone.now`` (and ``localtime`` / ``localdate``, which call it)
    give a :class:`ClockDatetime`, in that module and under every name a loaded module bound it
    to; the function that puts the original back."""
    from django.utils import timezone

    original = timezone.now

    def now() -> datetime.datetime:
        real = original()
        return ClockDatetime.combine(real, real.timetz())

    # Once per scan: every module's names bound to the function (``from django.utils.timezone
    # import now as clock`` included).
    patched = [
        (module, name)
        for module in list(sys.modules.values())
        if module is not None
        for name, value in list(getattr(module, "__dict__", {}).items())
        if value is original
    ]
    for module, name in patched:
        setattr(module, name, now)

    def restore() -> None:
        for module, name in patched:
            setattr(module, name, original)

    return restore


def _run_time_content_types() -> Callable[[], None]:
    """Swap ContentTypeManager's lookups for ones returning a content type whose id is a
    run-time value (see the module docstring); the function that swaps them back."""
    from django.apps import apps

    if not apps.is_installed("django.contrib.contenttypes"):
        return lambda: None
    from django.contrib.contenttypes.models import ContentTypeManager

    # Django's signatures, whatever the options: every answer is the same run-time row.
    def for_model(self: Any, *args: Any, **options: Any) -> Any:
        return runtime_row(0)

    def for_models(self: Any, *models: Any, **options: Any) -> Any:
        return {model: runtime_row(0) for model in models}

    stand_ins = {"get_for_model": for_model, "get_for_models": for_models, "get_for_id": for_model}
    originals = {name: ContentTypeManager.__dict__[name] for name in stand_ins}
    for name, stand_in in stand_ins.items():
        setattr(ContentTypeManager, name, stand_in)

    def restore() -> None:
        for name, original in originals.items():
            setattr(ContentTypeManager, name, original)

    return restore
