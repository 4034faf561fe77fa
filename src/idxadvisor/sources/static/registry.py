"""Model classes of the set-up Django project, looked up by the names source code uses.

Once Django is set up (not in a bare doctest, so shown, not run)::

    index = ModelIndex.build()
    index.find("monitoring.models.AlertRule", "AlertRule")  # <class 'monitoring...AlertRule'>
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from idxadvisor.sources.static.chains import DEFAULT_MANAGER_NAMES
from idxadvisor.sources.static.roots import descriptor_managers, related_accessors

if TYPE_CHECKING:
    from django.db.models import Model


@dataclass(frozen=True, slots=True)
class ModelIndex:
    by_qualname: dict[str, type[Model]]  # "monitoring.models.AlertRule" -> class
    by_name: dict[str, tuple[type[Model], ...]]  # "AlertRule" -> every model of that class name
    # every manager attribute any model declares or gives through a descriptor, plus defaults
    manager_names: frozenset[str]
    by_label: dict[str, type[Model]] = field(default_factory=dict)  # "monitoring.AlertRule" -> cls
    # every related manager name (`order.items`) of any model: chains may start from those too
    related_names: frozenset[str] = frozenset()

    @classmethod
    def build(cls) -> ModelIndex:
        from django.apps import apps

        by_qualname: dict[str, type[Model]] = {}
        by_name: dict[str, list[type[Model]]] = {}
        managers = set(DEFAULT_MANAGER_NAMES)
        for model in apps.get_models(include_auto_created=True):
            by_qualname[f"{model.__module__}.{model.__qualname__}"] = model
            by_name.setdefault(model.__name__, []).append(model)
            managers.update(m.name for m in model._meta.managers if m.name)
            managers.update(descriptor_managers(model))
        models = list(by_qualname.values())
        return cls(
            by_qualname,
            {k: tuple(v) for k, v in by_name.items()},
            frozenset(managers),
            {m._meta.label: m for m in models},
            related_accessors(models),
        )

    def find(self, qualname: str | None, name: str) -> type[Model] | None:
        """The model a qualified name (from the imports) or, failing that, a class name means."""
        if qualname:
            model = self.by_qualname.get(qualname)
            if model is not None:
                return model
            obj = imported_object(qualname)
            if isinstance(obj, type) and obj in self.by_qualname.values():
                return obj  # re-exported, e.g. `from app.models import X` with models/ a package
        candidates = self.by_name.get(name, ())
        return candidates[0] if len(candidates) == 1 else None


def imported_object(qualname: str) -> Any:
    """``a.b.C.D`` looked up among modules already imported; never imports anything new."""
    parts = qualname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj: Any = module
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None
