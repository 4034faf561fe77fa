"""What a queryset chain starts from when it is not ``Model.manager``: an instance's related
manager, or the method's own object (``self`` / ``super()``).

* ``order.items.filter(...)``: ``order`` is an instance of a known model — a parameter annotated
  with it (``order: Order``), a local bound once to ``Order.objects.get(...)`` (``first()``,
  ``get_object_or_404(Order, ...)``, ``Order(...)``, a ``for order in Order.objects...`` loop),
  ``self`` in a model method, or ``request.user`` — and ``items`` is one of its related managers
  (reverse foreign key, reverse or forward many-to-many, found through ``_meta.get_fields()``).
  The manager is Django's own, on an unsaved instance whose key is a run-time value: the SQL
  joins and filters by the foreign key with a ``$n``.
* a manager a model class gives through a descriptor of its own, not in ``_meta.managers``
  (django-simple-history's ``Poll.history``, ``poll.history``): read on the class or on an
  unsaved instance whose key is a run-time value, it is a manager like any other.
* a class-based view's ``get_queryset()`` (``self.get_queryset()``, ``super().get_queryset()``):
  what Django's ``MultipleObjectMixin`` / ``SingleObjectMixin`` builds from the class's
  ``queryset = Model.objects...`` attribute, else ``model = Model``, plus its ``ordering``.

>>> import ast
>>> function = ast.parse("def f(order: 'shop.Order', n):\\n    return order.items.all()\\n").body[0]
>>> ast.unparse(binding(function, "order"))
"'shop.Order'"
>>> binding(function, "n") is None
True
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from idxadvisor.sources.static.chains import dotted_name

if TYPE_CHECKING:
    from django.db.models import Model

# Chain endings that give one row (an instance of the chain's model).
ROW_METHODS = frozenset(
    {
        "get",
        "first",
        "last",
        "earliest",
        "latest",
        "aget",
        "afirst",
        "alast",
        "aearliest",
        "alatest",
    }
)
PAIR_METHODS = frozenset(
    {"get_or_create", "update_or_create", "aget_or_create", "aupdate_or_create"}
)
# `request.user` is the project's user model wherever a view reads it.
USER_EXPRESSIONS = frozenset({"request.user", "self.request.user"})


def binding(function: ast.AST | None, name: str) -> ast.expr | None:
    """What decides the type of local ``name`` in ``function``: its annotation if it is a
    parameter, else the one value it is bound to (``x = value``, ``x, _ = value`` (a pair),
    ``for x in value``); None when it is bound more than once or not at all."""
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    arguments = function.args
    params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    param = next((a for a in params if a.arg == name), None)
    stores = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)
    ]
    if param is not None:
        return param.annotation if not stores else None
    if len(stores) != 1:
        return None
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id == name:
                return node.value
            if (
                isinstance(target, ast.Tuple)
                and target.elts
                and isinstance(target.elts[0], ast.Name)
                and target.elts[0].id == name
            ):
                return ast.Tuple(elts=[node.value], ctx=ast.Load())  # the first of a pair
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and (node.target.id == name)
        ):
            return node.annotation
        elif (
            isinstance(node, ast.For | ast.AsyncFor)
            and isinstance(node.target, ast.Name)
            and (node.target.id == name)
        ):
            return ast.Starred(value=node.iter, ctx=ast.Load())  # one item of the iterable
    return None


def annotation_names(node: ast.expr | None) -> list[str]:
    """The dotted names a type annotation may mean: ``Order``, ``"shop.Order"``,
    ``Order | None``, ``Optional[Order]``.

    >>> annotation_names(ast.parse("Optional['Order'] ", mode="eval").body)
    ['Order']
    """
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return annotation_names(ast.parse(node.value.strip(), mode="eval").body)
        except SyntaxError:
            return []
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return annotation_names(node.left) + annotation_names(node.right)
    if isinstance(node, ast.Subscript) and (dotted_name(node.value) or "").endswith("Optional"):
        return annotation_names(node.slice)
    dotted = dotted_name(node)
    return [dotted] if dotted else []


def related_manager(model: type[Model], accessor: str, value: Callable[[Any], Any]) -> Any:
    """``instance.<accessor>`` for an unsaved ``model`` instance whose keys are ``value(field)``
    (run-time values), when ``accessor`` is a related manager of ``model``; else None."""
    relation = _relation(model, accessor)
    if relation is None:
        return None
    opts = model._meta
    targets = {opts.pk, *_source_fields(relation)}
    instance = model()
    for field in targets:
        setattr(instance, field.attname, value(field))
    manager = getattr(instance, accessor)
    if relation.auto_created and relation.one_to_many:
        # Django filters a reverse foreign key by the instance (`order=instance`) and converts
        # its key with the target field (int(value)), which a run-time value cannot pass;
        # `order__id=<value>` is the same condition on the same column.
        manager.core_filters = {
            f"{relation.field.name}__{target.name}": getattr(instance, target.attname)
            for target in relation.field.foreign_related_fields
        }
    return manager


@functools.cache
def descriptor_managers(model: type[Model]) -> frozenset[str]:
    """Names of the managers ``model`` gives through a descriptor of its own (an attribute of
    its class, not one of ``_meta.managers``, that read on the class is a manager)."""
    from django.db.models import Model as BaseModel
    from django.db.models.manager import BaseManager

    declared = {m.name for m in model._meta.managers}
    found: set[str] = set()
    for klass in model.__mro__:
        if klass is BaseModel or not issubclass(klass, BaseModel):
            break
        for name, raw in vars(klass).items():
            if name in declared or name.startswith("__") or not hasattr(raw, "__get__"):
                continue
            try:
                value = getattr(model, name)
            except Exception:  # a descriptor that only works on instances: not a manager here
                continue
            if isinstance(value, BaseManager):
                found.add(name)
    return frozenset(found)


def descriptor_manager(
    model: type[Model], name: str, value: Callable[[Any], Any] | None = None
) -> Any:
    """``model.<name>`` (or, with ``value``, ``instance.<name>`` for an unsaved instance whose
    primary key is ``value(pk)``) when ``name`` is one of :func:`descriptor_managers`; else
    None."""
    if name not in descriptor_managers(model):
        return None
    if value is None:
        return getattr(model, name)
    instance = model()
    setattr(instance, model._meta.pk.attname, value(model._meta.pk))
    try:
        return getattr(instance, name)
    except Exception:
        return None


def is_related_accessor(model: type[Model], accessor: str) -> bool:
    return _relation(model, accessor) is not None


def related_accessors(models: Any) -> frozenset[str]:
    """Every related manager name of ``models`` (for the chain finder)."""
    names: set[str] = set()
    for model in models:
        for field in model._meta.get_fields(include_hidden=False):
            name = _accessor_name(field)
            if name:
                names.add(name)
    return frozenset(names)


def _relation(model: type[Model], accessor: str) -> Any:
    try:
        fields = model._meta.get_fields(include_hidden=False)
    except Exception:
        return None
    return next((f for f in fields if _accessor_name(f) == accessor), None)


def _accessor_name(field: Any) -> str | None:
    """The attribute of the relation's manager on instances, or None (not a to-many relation
    backed by Django's related managers, e.g. a GenericRelation, which reads ContentType)."""
    if not field.is_relation:
        return None
    if field.auto_created and not field.concrete and (field.one_to_many or field.many_to_many):
        return field.get_accessor_name()
    if not field.auto_created and field.many_to_many and hasattr(field, "m2m_field_name"):
        return field.name
    return None


def _source_fields(relation: Any) -> tuple[Any, ...]:
    """The fields of the instance's model the relation's manager reads its key from."""
    if relation.auto_created and relation.one_to_many:
        return tuple(relation.field.foreign_related_fields)
    if relation.auto_created:  # reverse many-to-many: through.<fk to this model>
        through = relation.through._meta
        return tuple(
            through.get_field(relation.field.m2m_reverse_field_name()).foreign_related_fields
        )
    through = relation.remote_field.through._meta
    return tuple(through.get_field(relation.m2m_field_name()).foreign_related_fields)


def view_attributes(class_def: ast.ClassDef | None) -> dict[str, ast.expr]:
    """``model``, ``queryset`` and ``ordering`` as a class-based view's body binds them."""
    found: dict[str, ast.expr] = {}
    for stmt in class_def.body if class_def is not None else ():
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id in ("model", "queryset", "ordering")
        ):
            found[stmt.targets[0].id] = stmt.value
    return found


def class_binding(class_def: ast.ClassDef | None, name: str) -> str | None:
    """The dotted name the class body binds ``name`` to (``TaskModel = TaskResult``), if it
    binds it once, to a name."""
    bound = [
        stmt.value
        for stmt in (class_def.body if class_def is not None else ())
        if isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id == name
    ]
    return dotted_name(bound[0]) if len(bound) == 1 else None


def own_method_return(class_def: ast.ClassDef | None, method: str) -> ast.expr | None:
    """The one value ``def <method>`` of the class returns, if it has exactly one return."""
    for stmt in class_def.body if class_def is not None else ():
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == method:
            return single_return(stmt)
    return None


def single_return(function: ast.AST | None) -> ast.expr | None:
    """The value ``function`` returns when its body holds exactly one ``return <value>`` (one
    in a nested function counts too: then nothing is certain, and None)."""
    if function is None:
        return None
    returns = [n.value for n in ast.walk(function) if isinstance(n, ast.Return) and n.value]
    return returns[0] if len(returns) == 1 else None
