"""What a ``filter()`` keyword compares: its lookup, the field it is on, the value's field.

>>> lookup_shape  # doctest: +ELLIPSIS
<function lookup_shape at ...>

(``lookup_shape(Order, "customer__email__iexact")`` needs a set-up Django project: see
``tests/test_static_scan.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import Model


@dataclass(frozen=True, slots=True)
class LookupShape:
    lookup: str  # the final lookup name ("exact" when implicit)
    output_field: Any  # the compared field, when no transform changes the type
    field_path: str  # the key up to and including the last field, e.g. "channel"
    relation_target: str | None  # for a relation field: the related field it points at
    text_like: bool  # a LIKE on text (not array/JSON/range containment)


def lookup_shape(model: type[Model], key: str) -> LookupShape:
    from django.core.exceptions import FieldDoesNotExist
    from django.db.models import lookups

    parts = key.split("__")
    opts = model._meta
    # A field or a relation, read by duck typing (is_relation…): the stubs' union cannot narrow.
    found: Any = None
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
    return LookupShape(lookup, output_field, field_path, target, text_like)


def _lookup_names(found: Any) -> set[str]:
    try:
        return set(found.get_lookups())
    except Exception:
        return set()


def is_expression(value: Any) -> bool:
    return hasattr(value, "resolve_expression")


def field_or_none(model: type[Model], name: str | None) -> Any:
    try:
        return model._meta.get_field(name)  # type: ignore[arg-type]  # None: caught below
    except Exception:
        return None
