"""Rebuild a queryset chain found in the source through the real ORM and compile it to SQL.

The chain's methods are called on the model's manager with the arguments turned into Python
values: literals from the source stay (they decide partial indexes), anything else becomes a
run-time value (:func:`~idxadvisor.sources.static.offline.runtime_value`), an expression that
compiles to one parameter rendered as ``$n``. Django then builds the statement exactly as it
would at run time; the moment it would execute it, the
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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from idxadvisor.errors import one_line
from idxadvisor.sources.static import roots
from idxadvisor.sources.static.chains import (
    DEFAULT_MANAGER_NAMES,
    QuerysetChain,
    Step,
    dotted_name,
    get_model_label,
    is_get_user_model,
    is_self,
)
from idxadvisor.sources.static.lookups import (
    LookupShape,
    field_or_none,
    is_expression,
    lookup_shape,
)
from idxadvisor.sources.static.offline import (
    Captured,
    DatabaseTouched,
    InsertReached,
    is_runtime_row,
    is_runtime_value,
    no_database,
    runtime_value,
)
from idxadvisor.sources.static.registry import ModelIndex, imported_object
from idxadvisor.sources.static.scope import NO_VALUE, ModuleScope
from idxadvisor.sources.static.sql_render import RUNTIME

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = ["CompiledChain", "NotAQuery", "Rebuilder", "Unresolvable", "no_database"]

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
        "order_by",
        "values",
        "values_list",
        "only",
        "defer",
        "select_related",
        "distinct",
        "latest",
        "earliest",
        "dates",
        "datetimes",
    }
)
_LOOKUP_METHODS = frozenset({"filter", "exclude", "get"})
_PASSTHROUGH_METHODS = frozenset(
    {
        "all",
        "none",
        "reverse",
        "annotate",
        "alias",
        "aggregate",
        "select_for_update",
        "extra",
        "count",
        "exists",
        "first",
        "last",
        "iterator",
        "in_bulk",
        "union",
        "intersection",
        "difference",
        "update",
    }
)
_ASYNC_TWINS = (
    _LOOKUP_METHODS
    | _PASSTHROUGH_METHODS
    | _NAME_ARG_METHODS
    | {"delete", "contains", "get_or_create", "update_or_create"}
)
_INSERT_METHODS = frozenset(
    {"create", "bulk_create", "bulk_update", "acreate", "abulk_create", "abulk_update"}
)


# Django's refusal to compile a queryset holding OuterRef on its own (3.2 to 6.0 say this).
_OUTER_REF = "contains a reference to an outer query"


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
    model: type[Model] | None = None
    # Rooted on ``self`` in a QuerySet subclass: the caller's queryset, filters unseen.
    on_callers_queryset: bool = False
    # ``(line, col)`` of the link that ran the statement, when it is not the chain's last.
    ran_at: tuple[int, int] | None = None


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
    _on_callers_queryset: bool = False
    _building: set[int] = field(default_factory=set)  # id(node) of chains being rebuilt
    _expanding: set[int] = field(default_factory=set)  # id(node) of local values being built
    _model: type[Model] | None = None  # the model of the chain being compiled, once its root known

    def resolve_model(self, chain: QuerysetChain) -> type[Model] | None:
        if is_get_user_model(chain.model_expr):
            from django.contrib.auth import get_user_model

            return get_user_model()
        label = get_model_label(chain.model_expr)
        if label is not None:
            from django.apps import apps

            try:
                return apps.get_model(label)  # what the code's own call returns
            except (LookupError, ValueError):
                return None
        dotted = dotted_name(chain.model_expr) or ""
        head, _, rest = dotted.partition(".")
        if head == "cls" and not rest and chain.class_name:
            return self.models.find(f"{self.scope.module}.{chain.class_name}", chain.class_name)
        if dotted == "self.model" and chain.class_name:
            return self._model_of_class(chain.class_name)
        if head in ("self", "cls") and rest and "." not in rest and chain.class_name:
            # `TaskModel = TaskResult` in the class body: `self.TaskModel.objects…`.
            bound = roots.class_binding(self.scope.class_defs.get(chain.class_name), rest)
            if bound is not None:
                return self._model_named(bound)
        return self._model_named(dotted)

    def _model_named(self, dotted: str) -> type[Model] | None:
        return self.models.find(self.scope.qualify(dotted), dotted.rpartition(".")[2])

    def _model_of_class(self, name: str) -> type[Model] | None:
        """What ``self.model`` is in the methods of class ``name``: its ``model = X`` (a
        class-based view) or the model of its ``queryset = X.objects...``, else the one model
        that uses it as its manager or queryset class or is registered with it as ModelAdmin
        (None when none or several do)."""
        attribute = self.scope.model_attributes.get(name)
        if attribute is not None:
            return self._model_named(attribute)
        queryset = roots.view_attributes(self.scope.class_defs.get(name)).get("queryset")
        if queryset is not None and id(queryset) in self.chains:
            return self.resolve_model(self.chains[id(queryset)])
        cls = imported_object(f"{self.scope.module}.{name}")
        if not isinstance(cls, type):
            return None  # its module is not imported by the project: nothing uses the class
        from django.db.models import Manager, QuerySet

        found: set[type[Model]] = set()
        if issubclass(cls, Manager | QuerySet):
            for model in self.models.by_qualname.values():
                for manager in model._meta.managers:
                    queryset_class = manager._queryset_class  # type: ignore[attr-defined]
                    if isinstance(manager, cls) or issubclass(queryset_class, cls):
                        found.add(model)
        else:
            found.update(model for model, _ in _registered_admins(cls))
        # A proxy and its concrete model read one table: the concrete model stands for both.
        tables = {m._meta.concrete_model for m in found}
        if len(tables) != 1:
            return None
        (concrete,) = tables
        return concrete if concrete in found else found.pop()

    def compile(self, chain: QuerysetChain, function: ast.AST | None = None) -> CompiledChain:
        """The statement the chain runs. Raises Unresolvable or NotAQuery."""
        self._slice_defaults = _literal_defaults(function)
        self._function = function
        self._runtime_numbers = set()
        self._model = None
        self._on_callers_queryset = False
        try:
            if chain.steps[0].method == "raw" and not chain.on_self:
                return self._raw(chain, self._model_or_fail(chain))
            result = self._apply(chain, evaluate=True)[1]
        except Captured as captured:
            if captured.sql is None:
                raise Unresolvable("the queryset is always empty: Django sends no SQL") from None
            # A link before the last ran the statement (`get_task(id)` of `get_task(id)
            # .as_dict()`): the links after it work on its row in Python. The statement is that
            # link's, wherever the row is used.
            ran_by = captured.step if captured.step is not chain.steps[-1].node else None
            return CompiledChain(
                captured.sql,
                captured.params,
                frozenset(self._runtime_numbers),
                self._model,
                self._on_callers_queryset,
                ran_at=(ran_by.lineno, ran_by.col_offset + 1) if ran_by is not None else None,
            )
        except InsertReached:
            raise NotAQuery("insert") from None
        except DatabaseTouched:
            raise Unresolvable(
                "rebuilding this queryset would open a database connection"
            ) from None
        except (Unresolvable, NotAQuery):
            raise
        except Exception as exc:  # Django's own complaint (FieldError, TypeError…) is the reason
            if _OUTER_REF in str(exc):
                raise Unresolvable(
                    "a sub-query (it refers to OuterRef): it runs only inside another query's "
                    "Subquery() or Exists(), where the scan reads it when it is written in "
                    "place (not returned by a function); idxadvisor capture sees it run"
                ) from exc
            raise Unresolvable(one_line(exc)) from exc
        if is_runtime_row(result):
            # `ContentType.objects.get_for_model(obj)`: Django caches each content type per
            # process, so the lookup is no statement of the workload (like an insert, it is
            # left out); the queries using it are compiled with it as a run-time value.
            raise NotAQuery("a content type lookup")
        raise Unresolvable(f"no SQL statement: the chain ends in {_describe(result)}")

    # --- chains -------------------------------------------------------------------------------

    def _local_values(self) -> dict[str, ast.expr]:
        key = id(self._function)  # computed lazily: most chains never look at local names
        if key not in self._locals_by_function:
            self._locals_by_function[key] = assigned_once(self._function)
        return self._locals_by_function[key]

    def _model_or_fail(self, chain: QuerysetChain) -> type[Model]:
        model = self.resolve_model(chain)
        if model is None:
            raise Unresolvable(f"cannot resolve model {ast.unparse(chain.model_expr)!r}")
        return model

    def _queryset(self, node: ast.AST) -> Any:
        """A chain used as a value: the unevaluated queryset, a subquery of the query using it;
        NO_VALUE when the chain yields no queryset.

        ``filter(content_type=ContentType.objects.get_for_model(obj))``, ``filter(user=u)``
        after ``u = User.objects.first()``: the chain fetches a row (or fails to be rebuilt),
        so here it is a value known only at run time. It stays a query of its own, compiled or
        skipped at its own line; its statement is never taken for the one that uses it.
        """
        from django.db.models.query import QuerySet

        try:
            value = self._apply(self.chains[id(node)], evaluate=False)[1]
        except (Captured, DatabaseTouched, InsertReached, Exception):
            # It ran (or would run) a statement of its own, or cannot be rebuilt (Unresolvable,
            # Django's complaint): either way it is reported at its own line, not here.
            return NO_VALUE
        if not isinstance(value, QuerySet):
            return NO_VALUE
        self.consumed.add(id(node))
        return value

    def _apply(self, chain: QuerysetChain, *, evaluate: bool) -> tuple[type[Model], Any]:
        """``(model, result)``: the chain's steps run on what it starts from."""
        from django.db.models.query import QuerySet

        if id(chain.node) in self._building:
            raise Unresolvable("the queryset is built from itself (recursion)")
        self._building.add(id(chain.node))
        try:
            model, current, steps = self._root(chain)
            if evaluate:
                self._model = model
            for step in steps:
                if is_runtime_row(current):  # `get_for_id(i).model_class()`: Python on the row
                    raise NotAQuery("a content type lookup")
                try:
                    if isinstance(step.node, ast.Subscript):  # method "[]"
                        current = current[self._slice(step.node)]
                        continue
                    current = self._call(current, model, step.method, step.node)
                except Captured as captured:
                    captured.step = captured.step or step.node
                    raise
        finally:
            self._building.discard(id(chain.node))
        if evaluate:
            if isinstance(current, QuerySet):
                if _returned_unevaluated(chain.node, self._function) and _only_default_order(
                    current
                ):
                    # A queryset returned unevaluated is a building block: its caller decides
                    # whether rows are read in order (iterating) or not (count(), exists(),
                    # update(), delete()). The model's default ordering is no evidence of an
                    # ORDER BY the workload runs; an order the chain writes, or a slice, is.
                    current = current.order_by()
                list(current)
            elif isinstance(current, Iterator):
                next(current, None)
        return model, current

    def _root(self, chain: QuerysetChain) -> tuple[type[Model], Any, tuple[Step, ...]]:
        """``(model, start object, steps to run on it)``; NotAQuery when the chain only looks
        like one (``x.<a manager's name>`` on something that is not that model)."""
        if chain.on_self:
            return self._self_root(chain)
        model = self.resolve_model(chain)
        if model is not None:
            if chain.manager in DEFAULT_MANAGER_NAMES or chain.manager in {
                m.name for m in model._meta.managers
            }:
                return model, getattr(model, chain.manager), chain.steps
            manager = roots.descriptor_manager(model, chain.manager)
            if manager is not None:
                return manager.model, manager, chain.steps
            raise NotAQuery(f"{model.__name__}.{chain.manager} is not a manager")
        owner = self._instance_model(chain)
        if owner is not None and roots.is_related_accessor(owner, chain.manager):
            manager = roots.related_manager(owner, chain.manager, self._field_runtime)
            return manager.model, manager, chain.steps
        if owner is not None:
            manager = roots.descriptor_manager(owner, chain.manager, self._field_runtime)
            if manager is not None:
                return manager.model, manager, chain.steps
        if chain.manager in DEFAULT_MANAGER_NAMES:
            raise Unresolvable(f"cannot resolve model {ast.unparse(chain.model_expr)!r}")
        raise NotAQuery(f"{ast.unparse(chain.model_expr)}.{chain.manager}: no known model")

    def _field_runtime(self, output_field: Any) -> Any:
        return runtime_value(next(self._serials), output_field)

    def _instance_model(self, chain: QuerysetChain) -> type[Model] | None:
        """The model ``chain.model_expr`` is an instance of, when the source says."""
        expr = chain.model_expr
        dotted = dotted_name(expr)
        if dotted in roots.USER_EXPRESSIONS:
            from django.contrib.auth import get_user_model

            return get_user_model()
        if dotted == "self" and chain.class_name:
            return self.models.by_qualname.get(f"{self.scope.module}.{chain.class_name}")
        if not isinstance(expr, ast.Name):
            return None
        return self._type_of(roots.binding(self._function, expr.id))

    def _type_of(self, node: ast.expr | None) -> type[Model] | None:
        """The model an annotation or a bound value says a name holds an instance of."""
        if node is None:
            return None
        if isinstance(node, ast.Tuple | ast.Starred):  # first of a pair / item of an iterable
            inner = node.elts[0] if isinstance(node, ast.Tuple) else node.value
            chain = self.chains.get(id(inner))
            if chain is None:
                return None
            last = chain.steps[-1].method
            wanted = (
                roots.PAIR_METHODS
                if isinstance(node, ast.Tuple)
                else {"all", "filter", "exclude", "[]"}
            )
            return (
                self._chain_model(chain)
                if last in wanted
                or (isinstance(node, ast.Starred) and last in ("order_by", "select_related"))
                else None
            )
        chain = self.chains.get(id(node))
        if chain is not None:
            return (
                self._chain_model(chain) if chain.steps[-1].method in roots.ROW_METHODS else (None)
            )
        if isinstance(node, ast.Call):
            name = (dotted_name(node.func) or "").rpartition(".")[2]
            if name in ("get_object_or_404", "aget_object_or_404") and node.args:
                first = node.args[0]
                first_chain = self.chains.get(id(first))
                if first_chain is not None:
                    return self._chain_model(first_chain)
                return self._model_named(dotted_name(first) or "")
            return self._model_named(dotted_name(node.func) or "")  # Model(...)
        for dotted in roots.annotation_names(node):
            model = self._model_named(dotted) or self.models.by_label.get(dotted)
            if model is not None:
                return model
        return None

    def _chain_model(self, chain: QuerysetChain) -> type[Model] | None:
        try:
            return self._root(chain)[0]
        except (Unresolvable, NotAQuery):
            return None

    def _self_root(self, chain: QuerysetChain) -> tuple[type[Model], Any, tuple[Step, ...]]:
        """``self.filter()`` in a manager or queryset class, ``self.get_queryset()`` /
        ``super().get_queryset()`` in those, a ModelAdmin or a class-based view."""
        from django.db.models import Manager, QuerySet

        name = chain.class_name or ""
        on_super = not is_self(chain.model_expr)
        cls = imported_object(f"{self.scope.module}.{name}")
        if isinstance(cls, type) and issubclass(cls, Manager | QuerySet):
            if issubclass(cls, Manager) and chain.function == "get_queryset" and not self._model:
                # The base of every query through the manager, rebuilt inside each of them
                # (`Book.published.filter(...)`); on its own it is no query.
                raise NotAQuery(f"{name}.get_queryset() is the manager's base queryset")
            model = self._model_of_class(name)
            own = None if model is None else _own_object(model, cls)
            if model is None or own is None:
                raise Unresolvable(f"cannot resolve model of {name} ('self')")
            if not issubclass(cls, Manager):
                # A manager's `self` is every row; a queryset's is what its caller filtered.
                self._on_callers_queryset = True
            return model, super(cls, own) if on_super else own, chain.steps
        if chain.steps[0].method != "get_queryset":
            raise NotAQuery(f"{name} is not a manager or queryset")
        admins = _registered_admins(cls) if isinstance(cls, type) else []
        if len(admins) == 1:  # the instance the admin site runs
            model, admin = admins[0]
            return model, super(cls, admin) if on_super else admin, chain.steps
        queryset = self._view_queryset(name, own=not on_super)
        return queryset.model, queryset, chain.steps[1:]

    def _view_queryset(self, name: str, *, own: bool) -> Any:
        """What a class-based view's get_queryset() returns: its own override's one return
        value (``self.get_queryset()``), else Django's default from ``queryset`` / ``model``
        and ``ordering``."""
        class_def = self.scope.class_defs.get(name)
        if own:
            returned = roots.own_method_return(class_def, "get_queryset")
            if returned is not None and id(returned) in self.chains:
                return self._apply(self.chains[id(returned)], evaluate=False)[1]
        attributes = roots.view_attributes(class_def)
        queryset = attributes.get("queryset")
        if queryset is not None and id(queryset) in self.chains:
            result = self._apply(self.chains[id(queryset)], evaluate=False)[1].all()
        elif (
            "model" in attributes
            and (model := self._model_named(dotted_name(attributes["model"]) or "")) is not None
        ):
            result = model._default_manager.all()
        else:
            raise Unresolvable(f"cannot resolve model of {name}.get_queryset()")
        ordering = self._literal(attributes["ordering"]) if "ordering" in attributes else None
        if isinstance(ordering, str):
            ordering = (ordering,)
        return result.order_by(*ordering) if isinstance(ordering, list | tuple) else result

    # --- one queryset method ------------------------------------------------------------------

    def _call(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        if method.startswith("a") and method[1:] in _ASYNC_TWINS:
            method = method[1:]  # async twins (acount, aget…) run the same SQL
        if method in _INSERT_METHODS or method.startswith("create"):
            raise NotAQuery(method)  # create(), create_user()…: inserts read no index
        if method in ("using", "prefetch_related"):
            # Neither changes the statement analysed (prefetches run after it); on a manager
            # both give its queryset (`User.objects.prefetch_related("groups")[:30]`).
            from django.db.models import Manager

            return current.all() if isinstance(current, Manager) else current
        _reject_unpacking(method, node)
        handler = _HANDLERS.get(method)
        if handler is None:
            handler = (
                Rebuilder._passthrough if method in _PASSTHROUGH_METHODS else (Rebuilder._custom)
            )
        return handler(self, current, model, method, node)

    def _lookups(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        args = [self._condition(model, a) for a in node.args]
        kwargs = dict(self._lookup(model, k, v) for k, v in _keywords(node).items())
        return getattr(current, method)(*args, **kwargs)

    def _get_or_create(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        lookup = dict(
            self._lookup(model, k, v)
            for k, v in _keywords(node).items()
            if k not in ("defaults", "create_defaults")
        )
        base = current.all()
        if method == "update_or_create":  # Django locks the row it may update
            base = base.select_for_update()
        return base.get(**lookup)

    def _delete(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        return _delete(current.all())

    def _names(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        args = [self._name_arg(model, method, a) for a in node.args]
        kwargs = {k: self._value(model, v) for k, v in _keywords(node).items()}
        return getattr(current, method)(*args, **kwargs)

    def _update(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        kwargs = {
            k: self._value(model, v, field_or_none(model, k)) for k, v in _keywords(node).items()
        }
        return current.update(**kwargs)

    def _in_bulk(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        args = [self._in_list(a) for a in node.args[:1]]
        kwargs = {
            k: self._in_list(v) if k == "id_list" else self._value(model, v)
            for k, v in _keywords(node).items()
        }
        return current.in_bulk(*args, **kwargs)

    def _not_analysed(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        raise Unresolvable(f".{method}() is not analysed statically")

    def _target(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        target = getattr(current, method, None)
        if target is None or not callable(target):
            raise Unresolvable(f"unknown queryset method .{method}() on {model.__name__}")
        return target

    def _passthrough(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        args = [self._value(model, a) for a in node.args]
        kwargs = {k: self._value(model, v) for k, v in _keywords(node).items()}
        return self._target(current, model, method, node)(*args, **kwargs)

    def _custom(self, current: Any, model: type[Model], method: str, node: ast.Call) -> Any:
        """A custom manager/queryset method: the project's own code, run with our values."""
        args = [self._value(model, a) for a in node.args]
        kwargs = {k: self._value(model, v) for k, v in _keywords(node).items()}
        target = self._target(current, model, method, node)
        try:
            return target(*args, **kwargs)
        except (Captured, DatabaseTouched, InsertReached):
            raise
        except Exception as exc:
            if "RuntimeValue" in str(exc) or "RuntimeRow" in str(exc):
                # json.dumps(args), int(pk), a format string: Python on a value the scan only
                # knows as "given at run time". Say that, not the scan's own class name.
                raise Unresolvable(
                    f"custom queryset method .{method}() computes with its arguments' values "
                    f"({type(exc).__name__} on a value known only at run time): idxadvisor "
                    "capture sees what it runs"
                ) from exc
            raise Unresolvable(
                f"custom queryset method .{method}() failed on static values: {one_line(exc)}"
            ) from exc

    def _raw(self, chain: QuerysetChain, model: type[Model]) -> CompiledChain:
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
                high_v = 3 * _RUNTIME_SLICE_BASE + 2 if isinstance(high, _RuntimeMarker) else high
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
            return ast.literal_eval(node)
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

    def _value(self, model: type[Model], node: ast.expr, output_field: Any = None) -> Any:
        """A generic argument: literal, Django expression, subquery, else a run-time value."""
        value = self._literal(node)
        if value is not NO_VALUE:
            return value
        built = self._build(model, node)
        if built is not NO_VALUE:
            return built
        return runtime_value(next(self._serials), output_field)

    def _build(self, model: type[Model], node: ast.expr) -> Any:
        """A subquery, Django expression or combination of them, else NO_VALUE."""
        if id(node) in self.chains:
            return self._queryset(node)
        if isinstance(node, ast.Name) and node.id in self._local_values():
            return self._local_expression(model, node.id)
        if isinstance(node, ast.Call):
            func = self._safe_callable(node.func)
            if func is None:
                return NO_VALUE
            _reject_unpacking(getattr(func, "__name__", "call"), node)
            from django.db.models import Q

            if func is Q:
                args = [self._condition(model, a) for a in node.args]
                kwargs = dict(self._lookup(model, k, v) for k, v in _keywords(node).items())
                return Q(*args, **kwargs)
            args = [self._value(model, a) for a in node.args]
            keywords = _keywords(node)
            kwargs = {
                k: self._condition(model, v) if k == "filter" else self._value(model, v)
                for k, v in keywords.items()
            }
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                # Subquery(helper()): a queryset built by a call the scan does not follow is a
                # run-time value here, which Django cannot take for a query.
                given = (
                    *zip(node.args, args, strict=True),
                    *zip(keywords.values(), kwargs.values(), strict=True),
                )
                unknown = [n for n, v in given if is_runtime_value(v)]
                if not unknown:
                    raise
                name = getattr(func, "__name__", "call")
                raise Unresolvable(
                    f"{name}() of a value the scan cannot rebuild ({ast.unparse(unknown[0])}): "
                    "a queryset returned by a call is not followed; idxadvisor capture sees "
                    "it run"
                ) from exc
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.BitOr | ast.BitAnd | ast.BitXor | ast.Add | ast.Sub | ast.Mult | ast.Div
        ):
            left, right = self._build(model, node.left), self._build(model, node.right)
            if left is NO_VALUE and right is NO_VALUE:
                return NO_VALUE
            left = self._value(model, node.left) if left is NO_VALUE else left
            right = self._value(model, node.right) if right is NO_VALUE else right
            op = {
                ast.BitOr: lambda a, b: a | b,
                ast.BitAnd: lambda a, b: a & b,
                ast.BitXor: lambda a, b: a ^ b,
                ast.Add: lambda a, b: a + b,
                ast.Sub: lambda a, b: a - b,
                ast.Mult: lambda a, b: a * b,
                ast.Div: lambda a, b: a / b,
            }[type(node.op)]
            return op(left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            inner = self._build(model, node.operand)
            return NO_VALUE if inner is NO_VALUE else ~inner
        return NO_VALUE

    def _local_expression(self, model: type[Model], name: str) -> Any:
        """What a local name bound once holds, when it is a queryset (``Exists(paid)``) or a
        Django expression (``q = Q(a=1) | Q(b=2)``, then ``filter(q)``); else NO_VALUE.

        Of ``Q(x) if setting else Q(y)`` the first is taken, as a filter applied under a
        condition is. Plain values stay run-time values: a name bound to ``timezone.now()`` is
        a parameter, never the constant the scan happens to compute.
        """
        value = self._local_values()[name]
        if id(value) in self.chains:
            return self._queryset(value)
        if isinstance(value, ast.IfExp):
            value = value.body
        if id(value) in self._expanding:
            return NO_VALUE  # `q = q | Q(...)` bound once: no value to expand
        self._expanding.add(id(value))
        try:
            built = self._build(model, value)
        except Exception:  # what the scan cannot rebuild is a value known at run time
            return NO_VALUE
        finally:
            self._expanding.discard(id(value))
        return built if is_expression(built) else NO_VALUE

    def _condition(self, model: type[Model], node: ast.expr) -> Any:
        """A positional filter() argument: a Q, Exists or other boolean expression."""
        built = self._build(model, node)
        if built is NO_VALUE:
            raise Unresolvable(f"filter condition built at run time ({ast.unparse(node)})")
        return built

    def _name_arg(self, model: type[Model], method: str, node: ast.expr) -> Any:
        """A field name or expression in order_by()/values()/...: must be known statically."""
        value = self._literal(node)
        if value is not NO_VALUE:
            return value
        built = self._build_ordering(model, node)
        if built is NO_VALUE:
            raise Unresolvable(f".{method}() argument known only at run time ({ast.unparse(node)})")
        return built

    def _build_ordering(self, model: type[Model], node: ast.expr) -> Any:
        # F("x").desc(nulls_last=True), Lower("name").asc(): an expression with a direction.
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("asc", "desc")
        ):
            _reject_unpacking(node.func.attr, node)
            inner = self._build_ordering(model, node.func.value)
            kwargs = {k: self._literal(v) for k, v in _keywords(node).items()}
            if inner is NO_VALUE or any(v is NO_VALUE for v in kwargs.values()):
                return NO_VALUE
            return getattr(inner, node.func.attr)(**kwargs)
        return self._build(model, node)

    def _lookup(self, model: type[Model], key: str, node: ast.expr) -> tuple[str, Any]:
        """``(key, value)`` for one ``filter(key=value)`` keyword, value shaped by the lookup."""
        shape = lookup_shape(model, key)
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

    def _item(self, model: type[Model], node: ast.expr, shape: LookupShape) -> Any:
        value = self._literal(node)
        if value is not NO_VALUE:
            return value
        built = self._build(model, node)
        return built if built is not NO_VALUE else self._runtime(shape)

    def _in_key(self, key: str, shape: LookupShape, items: list[Any] | None) -> str:
        # Django converts each value of `fk__in=[...]` with the target field (int(value)), which
        # an expression cannot pass; `fk__<target>__in` is the same condition on the same column.
        if shape.relation_target and (items is None or any(is_expression(i) for i in items)):
            return f"{shape.field_path}__{shape.relation_target}__in"
        return key

    def _runtime(self, shape: LookupShape) -> Any:
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


# A string: Model is imported for the type checker only.
_Handler = Callable[[Rebuilder, Any, "type[Model]", str, ast.Call], Any]
# Method name -> how its arguments are read. Others: _PASSTHROUGH_METHODS run with their
# values, anything else is a custom manager/queryset method (Rebuilder._custom).
_HANDLERS: dict[str, _Handler] = {
    **dict.fromkeys(_LOOKUP_METHODS, Rebuilder._lookups),
    **dict.fromkeys(("get_or_create", "update_or_create"), Rebuilder._get_or_create),
    **dict.fromkeys(_NAME_ARG_METHODS, Rebuilder._names),
    **dict.fromkeys(("contains", "explain", "raw"), Rebuilder._not_analysed),
    "delete": Rebuilder._delete,
    "update": Rebuilder._update,
    "in_bulk": Rebuilder._in_bulk,
}


def _registered_admins(cls: type) -> list[tuple[type[Model], Any]]:
    """``(model, admin instance)`` for every admin site registration made with ``cls``."""
    # The admin registers in its own ready() (autodiscover); never imported from here.
    sites = sys.modules.get("django.contrib.admin.sites")
    return [
        (model, admin)
        for site in getattr(sites, "all_sites", ())
        for model, admin in site._registry.items()
        if type(admin) is cls
    ]


def _own_object(model: type[Model], cls: type) -> Any:
    """What ``self`` is in a method of manager or queryset class ``cls`` used by ``model``:
    the model's manager of that class, or the queryset its manager of that queryset class
    starts from (a proxy's managers count for its concrete model)."""
    from django.db.models import Manager

    candidates = [model, *(m for m in _models_sharing(model) if m is not model)]
    for owner in candidates:
        for manager in owner._meta.managers:
            if issubclass(cls, Manager) and isinstance(manager, cls):
                return manager
            queryset_class = manager._queryset_class  # type: ignore[attr-defined]  # private
            if not issubclass(cls, Manager) and issubclass(queryset_class, cls):
                return manager.get_queryset()
    return None


def _models_sharing(model: type[Model]) -> list[type[Model]]:
    from django.apps import apps

    concrete = model._meta.concrete_model
    return [m for m in apps.get_models() if m._meta.concrete_model is concrete]


class _RuntimeMarker:
    """A slice bound or in_bulk list known only at run time."""


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


def assigned_once(function: ast.AST | None) -> dict[str, ast.expr]:
    """Local names of ``function`` bound exactly once, by a plain ``name = value``."""
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
    }


def _literal_defaults(function: ast.AST | None) -> dict[str, Any]:
    """Parameters of the enclosing def with literal defaults, e.g. ``limit=100``."""
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return {}
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(
        zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
    )
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
    out: dict[str, Any] = {}
    for arg, default in pairs:
        try:
            out[arg.arg] = ast.literal_eval(default)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return out


def _keywords(node: ast.Call) -> dict[str, ast.expr]:
    """The call's ``name=value`` arguments, in order. Only after :func:`_reject_unpacking`:
    a ``**mapping`` (no name) is not among them."""
    return {kw.arg: kw.value for kw in node.keywords if kw.arg is not None}


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


def _returned_unevaluated(node: ast.AST, function: ast.AST | None) -> bool:
    """Whether ``node`` is what ``function`` returns, or an operand of the ``|`` / ``&`` it
    returns (``return self.failed() | self.succeeded()``): a queryset handed back as it is."""
    pending = [roots.single_return(function)]
    while pending:
        value = pending.pop()
        if value is node:
            return True
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr | ast.BitAnd):
            pending += [value.left, value.right]
    return False


def _only_default_order(queryset: Any) -> bool:
    """Ordered only by the model's ``Meta.ordering``: no ``order_by()`` written, no slice."""
    query = queryset.query
    return bool(
        query.default_ordering
        and not query.order_by
        and not (query.low_mark or query.high_mark is not None)  # not sliced (any Django)
        and queryset.model._meta.ordering
    )
