"""Rebuild a queryset chain found in the source through the real ORM and compile it to SQL.

The chain's methods are called on the model's manager with the arguments turned into Python
values: literals from the source stay (they decide partial indexes), anything else becomes a
:class:`RuntimeValue`, an expression that compiles to one parameter rendered as ``$n``. Django
then builds the statement exactly as it would at run time; the moment it would execute it, the
compiler's SQL is taken instead (see :func:`no_database`) and nothing is sent anywhere.

Choices made where Django needs a concrete value:

* ``__in`` with a run-time value: a one-element list ``IN ($1)``;
  ``__range``: ``BETWEEN $1 AND $2``.
* ``__isnull`` with a run-time value: ``True`` (``IS NULL``), it must be a bool.
* ``contains``/``icontains``/``endswith``/``iendswith``/``startswith``/``istartswith`` with a
  run-time value: the neutral marker text ``x``, so the statement shows the pattern Django builds
  (``'%x%'``, ``'x%'``): whether a LIKE has a leading wildcard is what decides the index type,
  and Django's own expression form (``LIKE '%' || $1 || '%'``) hides that from a SQL reader.
* A slice bound known only at run time: the default of the enclosing function's parameter when
  it has a literal one (``limit=100`` gives ``LIMIT 100``), else ``LIMIT $n``.
"""

from __future__ import annotations

import ast
import enum
import importlib
import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from idxadvisor.project import COMPILE_ALIAS, compile_connection, one_line
from idxadvisor.sources.static.chains import QuerysetChain, dotted_name, is_get_user_model
from idxadvisor.sources.static.registry import ModelIndex, imported_object
from idxadvisor.sources.static.scope import NO_VALUE, ModuleScope
from idxadvisor.sources.static.sql_render import RUNTIME

# Where callables in arguments may come from: constructing these is side-effect free.
_SAFE_CALLABLE_PREFIXES = ("django.db.models", "django.contrib.postgres")

_LIKE_LOOKUPS = frozenset(
    {"contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)
_LIKE_MARKER = "x"
_RUNTIME_SLICE_BASE = 10**12  # LIMIT/OFFSET numbers this big stand for run-time values

# Methods whose arguments name fields/expressions and must be known from the source.
_NAME_ARG_METHODS = frozenset(
    {
        "order_by", "values", "values_list", "only", "defer", "select_related",
        "distinct", "latest", "earliest", "dates", "datetimes",
    }
)
_LOOKUP_METHODS = frozenset({"filter", "exclude", "get"})
_PASSTHROUGH_METHODS = frozenset(
    {
        "all", "none", "reverse", "annotate", "alias", "aggregate", "select_for_update",
        "extra", "count", "exists", "first", "last", "iterator", "in_bulk", "union",
        "intersection", "difference", "update",
    }
)
_INSERT_METHODS = frozenset({"create", "bulk_create", "bulk_update", "acreate", "abulk_create",
                             "abulk_update"})


class Unresolvable(Exception):
    """The chain cannot be rebuilt from the source alone; ``str(exc)`` is the reason."""


class NotAQuery(Exception):
    """The chain is not a read/update/delete worth analysing (e.g. ``objects.create``)."""


@dataclass(frozen=True, slots=True)
class CompiledChain:
    """Django's statement for a chain: ``sql`` with ``%s`` params, or raw SQL (``raw``)."""

    sql: str
    params: tuple[Any, ...]
    runtime_numbers: frozenset[int] = frozenset()
    model: type | None = None


class _Captured(BaseException):  # BaseException: user code's `except Exception` can't eat it
    def __init__(self, sql: str | None, params: tuple[Any, ...]) -> None:
        super().__init__("statement captured")
        self.sql = sql
        self.params = params


class _DatabaseTouched(BaseException):
    pass


class _InsertReached(BaseException):
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
    """While active: executing a compiler raises :class:`_Captured` with its SQL instead (an
    INSERT: :class:`_InsertReached`), and opening any connection raises
    :class:`_DatabaseTouched`. Everything is restored on exit."""
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
            raise _Captured(None, ()) from None
        raise _Captured(sql or None, tuple(params))

    def refuse(self: Any) -> None:
        raise _DatabaseTouched()

    def insert(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise _InsertReached()

    SQLCompiler.execute_sql = capture  # type: ignore[method-assign]
    SQLInsertCompiler.execute_sql = insert  # type: ignore[method-assign]
    BaseDatabaseWrapper.ensure_connection = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQLCompiler.execute_sql = original_execute  # type: ignore[method-assign]
        SQLInsertCompiler.execute_sql = original_insert  # type: ignore[method-assign]
        BaseDatabaseWrapper.ensure_connection = original_ensure  # type: ignore[method-assign]


@dataclass
class Rebuilder:
    """Rebuilds the chains of one module. Call inside :func:`no_database`."""

    models: ModelIndex
    scope: ModuleScope
    chains: dict[int, QuerysetChain]  # id(node) -> chain, to recognise subqueries in arguments
    consumed: set[int] = field(default_factory=set)  # id(node) of chains used as subqueries
    _serials: Iterator[int] = field(default_factory=itertools.count)
    _slice_defaults: dict[str, Any] = field(default_factory=dict)
    _function: ast.AST | None = None
    _locals_by_function: dict[int, dict[str, ast.expr]] = field(default_factory=dict)
    _runtime_numbers: set[int] = field(default_factory=set)

    def resolve_model(self, chain: QuerysetChain) -> type | None:
        if is_get_user_model(chain.model_expr):
            from django.contrib.auth import get_user_model

            return get_user_model()
        dotted = dotted_name(chain.model_expr) or ""
        head, _, rest = dotted.partition(".")
        if head == "cls" and not rest and chain.class_name:
            return self.models.find(f"{self.scope.module}.{chain.class_name}", chain.class_name)
        if dotted == "self.model" and chain.class_name:
            return self._model_of_class(chain.class_name)
        return self.models.find(self.scope.qualify(dotted), dotted.rpartition(".")[2])

    def _model_of_class(self, name: str) -> type | None:
        """What ``self.model`` is in the methods of class ``name``: its ``model = X`` (a
        class-based view), else the one model that uses it as its manager or queryset class or
        is registered with it as ModelAdmin (None when none or several do)."""
        attribute = self.scope.model_attributes.get(name)
        if attribute is not None:
            return self.models.find(self.scope.qualify(attribute), attribute.rpartition(".")[2])
        cls = imported_object(f"{self.scope.module}.{name}")
        if not isinstance(cls, type):
            return None  # its module is not imported by the project: nothing uses the class
        from django.db.models import Manager, QuerySet

        found: set[type] = set()
        if issubclass(cls, Manager | QuerySet):
            for model in self.models.by_qualname.values():
                for manager in model._meta.managers:
                    if isinstance(manager, cls) or issubclass(manager._queryset_class, cls):
                        found.add(model)
        else:
            # The admin registers in its own ready() (autodiscover); never imported from here.
            sites = sys.modules.get("django.contrib.admin.sites")
            for site in getattr(sites, "all_sites", ()):
                found.update(m for m, admin in site._registry.items() if type(admin) is cls)
        # A proxy and its concrete model read one table: the concrete model stands for both.
        tables = {m._meta.concrete_model for m in found}
        if len(tables) != 1:
            return None
        (concrete,) = tables
        return concrete if concrete in found else found.pop()

    def compile(self, chain: QuerysetChain, function: ast.AST | None = None) -> CompiledChain:
        """The statement the chain runs. Raises Unresolvable or NotAQuery."""
        model = self._model_or_fail(chain)
        self._slice_defaults = _literal_defaults(function)
        self._function = function
        self._runtime_numbers = set()
        try:
            if chain.steps[0].method == "raw":
                return self._raw(chain, model)
            result = self._apply(chain, model, evaluate=True)
        except _Captured as captured:
            if captured.sql is None:
                raise Unresolvable("the queryset is always empty: Django sends no SQL") from None
            return CompiledChain(
                captured.sql, captured.params, frozenset(self._runtime_numbers), model
            )
        except _InsertReached:
            raise NotAQuery("insert") from None
        except _DatabaseTouched:
            raise Unresolvable(
                "rebuilding this queryset would open a database connection"
            ) from None
        except (Unresolvable, NotAQuery):
            raise
        except Exception as exc:  # Django's own complaint (FieldError, TypeError…) is the reason
            raise Unresolvable(one_line(exc)) from exc
        raise Unresolvable(f"no SQL statement: the chain ends in {_describe(result)}")

    # --- chains -------------------------------------------------------------------------------

    def _local_chains(self) -> dict[str, ast.expr]:
        key = id(self._function)  # computed lazily: most chains never look at local names
        if key not in self._locals_by_function:
            self._locals_by_function[key] = assigned_chains(self._function, self.chains)
        return self._locals_by_function[key]

    def _model_or_fail(self, chain: QuerysetChain) -> type:
        model = self.resolve_model(chain)
        if model is None:
            raise Unresolvable(f"cannot resolve model {ast.unparse(chain.model_expr)!r}")
        return model

    def _queryset(self, node: ast.AST) -> Any:
        """A chain used as a value (subquery): the unevaluated queryset."""
        chain = self.chains[id(node)]
        self.consumed.add(id(node))
        return self._apply(chain, self._model_or_fail(chain), evaluate=False)

    def _apply(self, chain: QuerysetChain, model: type, *, evaluate: bool) -> Any:
        from django.db.models.query import QuerySet

        current: Any = getattr(model, chain.manager)
        for step in chain.steps:
            if step.method == "[]":
                current = current[self._slice(step.node)]  # type: ignore[arg-type]
                continue
            current = self._call(current, model, step.method, step.node)  # type: ignore[arg-type]
        if not evaluate:
            return current
        if isinstance(current, QuerySet):
            list(current)
        elif isinstance(current, Iterator):
            next(current, None)
        return current

    def _call(self, current: Any, model: type, method: str, node: ast.Call) -> Any:
        if method.startswith("a") and method[1:] in (
            _LOOKUP_METHODS | _PASSTHROUGH_METHODS | _NAME_ARG_METHODS
            | {"delete", "contains", "get_or_create", "update_or_create"}
        ):
            method = method[1:]  # async twins (acount, aget…) run the same SQL
        if method in _INSERT_METHODS or method.startswith("create"):
            raise NotAQuery(method)  # create(), create_user()…: inserts read no index
        if method in ("using", "prefetch_related"):
            return current  # neither changes the statement analysed (prefetches run after it)
        _reject_unpacking(method, node)
        if method in _LOOKUP_METHODS:
            args = [self._condition(model, a) for a in node.args]
            kwargs = dict(self._lookup(model, kw.arg, kw.value) for kw in node.keywords)  # type: ignore[arg-type]
            return getattr(current, method)(*args, **kwargs)
        if method in ("get_or_create", "update_or_create"):
            lookup = dict(
                self._lookup(model, kw.arg, kw.value)  # type: ignore[arg-type]
                for kw in node.keywords
                if kw.arg not in ("defaults", "create_defaults")
            )
            base = current.all()
            if method == "update_or_create":  # Django locks the row it may update
                base = base.select_for_update()
            return base.get(**lookup)
        if method == "delete":
            return _delete(current.all())
        if method in _NAME_ARG_METHODS:
            args = [self._name_arg(model, method, a) for a in node.args]
            kwargs = {kw.arg: self._value(model, kw.value) for kw in node.keywords}
            return getattr(current, method)(*args, **kwargs)
        if method == "update":
            kwargs = {
                kw.arg: self._value(model, kw.value, _field_or_none(model, kw.arg))
                for kw in node.keywords
            }
            return current.update(**kwargs)
        if method == "in_bulk":
            args = [self._in_list(a) for a in node.args[:1]]
            kwargs = {
                kw.arg: self._in_list(kw.value) if kw.arg == "id_list" else self._value(
                    model, kw.value
                )
                for kw in node.keywords
            }
            return current.in_bulk(*args, **kwargs)
        if method in ("contains", "explain", "raw"):
            raise Unresolvable(f".{method}() is not analysed statically")
        args = [self._value(model, a) for a in node.args]
        kwargs = {kw.arg: self._value(model, kw.value) for kw in node.keywords}
        target = getattr(current, method, None)
        if target is None or not callable(target):
            raise Unresolvable(f"unknown queryset method .{method}() on {model.__name__}")
        if method in _PASSTHROUGH_METHODS:
            return target(*args, **kwargs)
        try:  # a custom manager/queryset method: the project's own code, run with our values
            return target(*args, **kwargs)
        except (_Captured, _DatabaseTouched, _InsertReached):
            raise
        except Exception as exc:
            raise Unresolvable(
                f"custom queryset method .{method}() failed on static values: {one_line(exc)}"
            ) from exc

    def _raw(self, chain: QuerysetChain, model: type) -> CompiledChain:
        call = chain.steps[0].node
        assert isinstance(call, ast.Call)
        text = self._literal(call.args[0]) if call.args else NO_VALUE
        if not isinstance(text, str):
            raise Unresolvable(".raw() with SQL built at run time")
        params_node = call.args[1] if len(call.args) > 1 else None
        count = text.count("%s")
        params: tuple[Any, ...] = (RUNTIME,) * count
        if params_node is not None:
            literal = self._literal(params_node)
            if isinstance(literal, list | tuple) and len(literal) == count:
                params = tuple(literal)
        return CompiledChain(text, params, frozenset(), model)

    def _slice(self, node: ast.Subscript) -> slice | int:
        if isinstance(node.slice, ast.Slice):
            if node.slice.step is not None:
                raise Unresolvable("slice with a step")
            low = self._bound(node.slice.lower)
            high = self._bound(node.slice.upper)
            if isinstance(low, _RuntimeMarker) and high is not None:
                high = _RuntimeMarker()  # LIMIT is `high - low`: unknown when low is
            if isinstance(low, _RuntimeMarker) or isinstance(high, _RuntimeMarker):
                low_v = _RUNTIME_SLICE_BASE + 1 if isinstance(low, _RuntimeMarker) else low
                high_v = (
                    3 * _RUNTIME_SLICE_BASE + 2 if isinstance(high, _RuntimeMarker) else high
                )
                if isinstance(low, _RuntimeMarker):
                    self._runtime_numbers.add(low_v)
                # LIMIT is printed as high - low: that number stands for the run-time value too.
                if high_v is not None:
                    self._runtime_numbers.add(high_v - (low_v or 0))
                return slice(low_v, high_v)
            return slice(low, high)
        index = self._bound(node.slice)
        if index is None:
            raise Unresolvable("queryset index is None")
        if isinstance(index, _RuntimeMarker):
            self._runtime_numbers.add(_RUNTIME_SLICE_BASE + 1)
            return _RUNTIME_SLICE_BASE + 1
        return index

    def _bound(self, node: ast.expr | None) -> Any:
        if node is None:
            return None
        value = self._literal(node)
        if value is NO_VALUE and isinstance(node, ast.Name):
            value = self._slice_defaults.get(node.id, NO_VALUE)
        if value is NO_VALUE:
            return _RuntimeMarker()
        if not isinstance(value, int) or isinstance(value, bool):
            raise Unresolvable(f"queryset slice bound {ast.unparse(node)!r} is not an integer")
        return value

    # --- values -------------------------------------------------------------------------------

    def _literal(self, node: ast.AST) -> Any:
        """The Python value of a literal, module constant or enum/choices member, or NO_VALUE."""
        try:
            return ast.literal_eval(node)  # type: ignore[arg-type]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, ast.Name):
            return self.scope.constant(node.id)
        dotted = dotted_name(node)
        if dotted is None or "." not in dotted:
            return NO_VALUE
        obj = imported_object(self.scope.qualify(dotted) or "")
        if obj is None:  # `Model.Status.X` where `Model` is found through the registry
            head, _, rest = dotted.partition(".")
            model = self.models.find(self.scope.qualify(head), head)
            obj = model
            for attr in rest.split("."):
                obj = getattr(obj, attr, None)
        if isinstance(obj, enum.Enum):
            obj = obj.value
        elif isinstance(obj, str | int | float) and not isinstance(obj, bool):
            pass
        else:
            return NO_VALUE
        if isinstance(obj, str | int | float | bool):
            return obj
        return NO_VALUE

    def _value(self, model: type, node: ast.expr, output_field: Any = None) -> Any:
        """A generic argument: literal, Django expression, subquery, else a run-time value."""
        value = self._literal(node)
        if value is not NO_VALUE:
            return value
        built = self._build(model, node)
        if built is not NO_VALUE:
            return built
        return runtime_value(next(self._serials), output_field)

    def _build(self, model: type, node: ast.expr) -> Any:
        """A subquery, Django expression or combination of them, else NO_VALUE."""
        if id(node) in self.chains:
            return self._queryset(node)
        if isinstance(node, ast.Name) and node.id in self._local_chains():
            return self._queryset(self._local_chains()[node.id])  # `Exists(paid)`
        if isinstance(node, ast.Call):
            func = self._safe_callable(node.func)
            if func is None:
                return NO_VALUE
            _reject_unpacking(getattr(func, "__name__", "call"), node)
            from django.db.models import Q

            if func is Q:
                args = [self._condition(model, a) for a in node.args]
                kwargs = dict(self._lookup(model, kw.arg, kw.value) for kw in node.keywords)  # type: ignore[arg-type]
                return Q(*args, **kwargs)
            args = [self._value(model, a) for a in node.args]
            kwargs = {
                kw.arg: (self._condition(model, kw.value) if kw.arg == "filter"
                         else self._value(model, kw.value))
                for kw in node.keywords
            }
            return func(*args, **kwargs)
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.BitOr | ast.BitAnd | ast.BitXor | ast.Add | ast.Sub | ast.Mult | ast.Div
        ):
            left, right = self._build(model, node.left), self._build(model, node.right)
            if left is NO_VALUE and right is NO_VALUE:
                return NO_VALUE
            left = self._value(model, node.left) if left is NO_VALUE else left
            right = self._value(model, node.right) if right is NO_VALUE else right
            op = {
                ast.BitOr: lambda a, b: a | b, ast.BitAnd: lambda a, b: a & b,
                ast.BitXor: lambda a, b: a ^ b, ast.Add: lambda a, b: a + b,
                ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
                ast.Div: lambda a, b: a / b,
            }[type(node.op)]
            return op(left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            inner = self._build(model, node.operand)
            return NO_VALUE if inner is NO_VALUE else ~inner
        return NO_VALUE

    def _condition(self, model: type, node: ast.expr) -> Any:
        """A positional filter() argument: a Q, Exists or other boolean expression."""
        built = self._build(model, node)
        if built is NO_VALUE:
            raise Unresolvable(f"filter condition built at run time ({ast.unparse(node)})")
        return built

    def _name_arg(self, model: type, method: str, node: ast.expr) -> Any:
        """A field name or expression in order_by()/values()/...: must be known statically."""
        value = self._literal(node)
        if value is not NO_VALUE:
            return value
        built = self._build_ordering(model, node)
        if built is NO_VALUE:
            raise Unresolvable(f".{method}() argument known only at run time ({ast.unparse(node)})")
        return built

    def _build_ordering(self, model: type, node: ast.expr) -> Any:
        # F("x").desc(nulls_last=True), Lower("name").asc(): an expression with a direction.
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("asc", "desc")
        ):
            inner = self._build_ordering(model, node.func.value)
            kwargs = {kw.arg: self._literal(kw.value) for kw in node.keywords}
            if inner is NO_VALUE or any(v is NO_VALUE for v in kwargs.values()):
                return NO_VALUE
            return getattr(inner, node.func.attr)(**kwargs)
        return self._build(model, node)

    def _lookup(self, model: type, key: str, node: ast.expr) -> tuple[str, Any]:
        """``(key, value)`` for one ``filter(key=value)`` keyword, value shaped by the lookup."""
        shape = _lookup_shape(model, key)
        value = self._literal(node)
        if value is not NO_VALUE:
            return key, value
        if shape.lookup in ("in", "range") and isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = [self._item(model, elt, shape) for elt in node.elts]
            return self._in_key(key, shape, items), items
        built = self._build(model, node)
        if built is not NO_VALUE:
            return key, built
        if shape.lookup == "isnull":
            return key, True
        if shape.lookup in _LIKE_LOOKUPS and shape.text_like:
            return key, _LIKE_MARKER
        if shape.lookup == "in":
            return self._in_key(key, shape, None), [self._runtime(shape)]
        if shape.lookup == "range":
            return key, (self._runtime(shape), self._runtime(shape))
        return key, self._runtime(shape)

    def _item(self, model: type, node: ast.expr, shape: _LookupShape) -> Any:
        value = self._literal(node)
        if value is not NO_VALUE:
            return value
        built = self._build(model, node)
        return built if built is not NO_VALUE else self._runtime(shape)

    def _in_key(self, key: str, shape: _LookupShape, items: list[Any] | None) -> str:
        # Django converts each value of `fk__in=[...]` with the target field (int(value)), which
        # an expression cannot pass; `fk__<target>__in` is the same condition on the same column.
        if shape.relation_target and (items is None or any(_is_expression(i) for i in items)):
            return f"{shape.field_path}__{shape.relation_target}__in"
        return key

    def _runtime(self, shape: _LookupShape) -> Any:
        return runtime_value(next(self._serials), shape.output_field)

    def _in_list(self, node: ast.expr) -> Any:
        value = self._literal(node)
        if value is not NO_VALUE:
            return value
        return [runtime_value(next(self._serials))]

    def _safe_callable(self, func: ast.expr) -> Callable[..., Any] | None:
        dotted = dotted_name(func)
        if dotted is None:
            return None
        target = self.scope.qualify(dotted)
        if not target or not target.startswith(_SAFE_CALLABLE_PREFIXES):
            return None
        module, _, name = target.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            obj = imported_object(target)
        return obj if callable(obj) else None


class _RuntimeMarker:
    """A slice bound or in_bulk list known only at run time."""


@dataclass(frozen=True, slots=True)
class _LookupShape:
    lookup: str  # the final lookup name ("exact" when implicit)
    output_field: Any  # the compared field, when no transform changes the type
    field_path: str  # the key up to and including the last field, e.g. "channel"
    relation_target: str | None  # for a relation field: the related field it points at
    text_like: bool  # a LIKE on text (not array/JSON/range containment)


def _lookup_shape(model: type, key: str) -> _LookupShape:
    from django.core.exceptions import FieldDoesNotExist
    from django.db.models import lookups

    parts = key.split("__")
    opts = model._meta  # type: ignore[attr-defined]
    found = None
    used = 0
    for i, part in enumerate(parts):
        name = opts.pk.name if part == "pk" else part
        try:
            found = opts.get_field(name)
        except FieldDoesNotExist:
            break
        used = i + 1
        related = getattr(found, "related_model", None)
        if found.is_relation and related is not None and used < len(parts):
            if parts[used] in _lookup_names(found):
                break
            opts = related._meta
        elif used < len(parts):
            break
    rest = parts[used:]
    lookup = rest[-1] if rest else "exact"
    transformed = len(rest) > 1
    field_path = "__".join(parts[:used])
    target = None
    output_field = None
    text_like = True
    if found is not None and not transformed:
        if found.is_relation and getattr(found, "related_model", None) is not None:
            if getattr(found, "concrete", False) and (found.many_to_one or found.one_to_one):
                output_field = found.target_field  # forward FK / one-to-one: its own column
            else:
                output_field = found.related_model._meta.pk  # reverse relation, many-to-many
            target = output_field.name
        else:
            output_field = found
            lookup_class = found.get_lookup(lookup)
            text_like = lookup_class is not None and issubclass(lookup_class, lookups.PatternLookup)
    return _LookupShape(lookup, output_field, field_path, target, text_like)


def _lookup_names(found: Any) -> set[str]:
    try:
        return set(found.get_lookups())
    except Exception:
        return set()


def _is_expression(value: Any) -> bool:
    return hasattr(value, "resolve_expression")


def _field_or_none(model: type, name: str | None) -> Any:
    try:
        return model._meta.get_field(name)  # type: ignore[attr-defined]
    except Exception:
        return None


def _delete(queryset: Any) -> Any:
    """What ``queryset.delete()`` sends first, without its transaction (which would connect).

    Django deletes in one ``DELETE … WHERE`` when nothing cascades and no signal listens (fast
    delete); otherwise it first SELECTs the rows to collect what to cascade — that SELECT is
    then the statement reported.
    """
    from django.db.models.deletion import Collector

    if queryset.query.is_sliced:
        raise TypeError("Cannot use 'limit' or 'offset' with delete().")
    if queryset._fields is not None:
        raise TypeError("Cannot call delete() after .values() or .values_list()")
    del_query = queryset._chain()
    del_query._for_write = True
    del_query.query.select_for_update = False
    del_query.query.select_related = False
    del_query.query.clear_ordering(force=True)
    collector = Collector(using=del_query.db, origin=queryset)
    collector.collect(del_query)  # evaluates (SELECT) unless a fast delete is possible
    for fast in collector.fast_deletes:
        fast._raw_delete(using=del_query.db)
    raise TypeError("delete() found nothing to delete")


def assigned_chains(function: ast.AST | None, chains: dict[int, Any]) -> dict[str, ast.expr]:
    """Local names of ``function`` bound exactly once, to a queryset chain: ``name -> chain``."""
    if function is None:
        return {}
    stores: dict[str, int] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            stores[node.id] = stores.get(node.id, 0) + 1
    return {
        node.targets[0].id: node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and stores.get(node.targets[0].id) == 1
        and id(node.value) in chains
    }


def _literal_defaults(function: ast.AST | None) -> dict[str, Any]:
    """Parameters of the enclosing def with literal defaults, e.g. ``limit=100``."""
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return {}
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults,
                     strict=True))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
    out: dict[str, Any] = {}
    for arg, default in pairs:
        try:
            out[arg.arg] = ast.literal_eval(default)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return out


def _reject_unpacking(method: str, node: ast.Call) -> None:
    for kw in node.keywords:
        if kw.arg is None:
            raise Unresolvable(
                f"{method}() arguments built at run time (**{ast.unparse(kw.value)})"
            )
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise Unresolvable(f"{method}() arguments built at run time ({ast.unparse(arg)})")


def _describe(value: Any) -> str:
    return type(value).__name__

