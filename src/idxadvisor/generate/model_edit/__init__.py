"""Editing a models module with libcst: add or remove entries of a model's ``Meta.indexes`` or
``Meta.constraints`` while every comment and every odd line break of the file survives.

>>> src = "from django.db import models\\n\\nclass Hook(models.Model):\\n    status = 1\\n"
>>> print(add_to_meta(src, "Hook", "indexes", "models.Index(fields=['status'], name='h_idx')",
...                   name="h_idx"), end="")
from django.db import models
<BLANKLINE>
class Hook(models.Model):
    status = 1
<BLANKLINE>
    class Meta:
        indexes = [
            models.Index(fields=["status"], name="h_idx"),
        ]

Where the edit cannot be made without guessing (``indexes = build_indexes()``, a ``Meta`` that
inherits from another, a class that is not in the file), :class:`UnsafeEdit` says why; the caller
then tells the user what to add by hand. Nothing here imports Django.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from idxadvisor.generate.model_edit.editor import _MetaEditor
from idxadvisor.generate.model_edit.imports import (
    _check_name_free,
    _models_alias,
    _sort_added_imports,
)
from idxadvisor.generate.model_edit.lookup import (
    _entry_name,
    _find_assign,
    _find_class,
    _find_meta,
    _parse,
    _prepare_element,
    _quote_style,
)
from idxadvisor.generate.model_edit.records import Inherited, MetaList, NeededImport, UnsafeEdit


def add_to_meta(
    source: str,
    model: str,
    attribute: MetaList,
    element: str,
    *,
    name: str,
    imports: Iterable[NeededImport] = (),
    inherited: Inherited | None = None,
) -> str:
    """``source`` with ``element`` appended to ``model``'s ``Meta.<attribute>`` list.

    ``element`` is Python source that refers to ``django.db.models`` as ``models.``; it is
    rewritten to the alias the file uses. ``Meta`` and the list are created when missing,
    ``imports`` are added when missing. When the list already holds an entry called ``name``
    the source comes back unchanged. ``inherited`` (what Django says the model inherits) lets
    an inherited ``Meta`` be extended; without it, an edit that could hide one is refused.

    >>> src = "class A(Base):\\n    x = 1\\n"
    >>> print(add_to_meta(src, "A", "indexes", "models.Index(fields=['x'], name='a')", name="a",
    ...                   inherited=Inherited("Base", declares=True)), end="")
    from django.db import models
    <BLANKLINE>
    class A(Base):
        x = 1
    <BLANKLINE>
        class Meta(Base.Meta):
            indexes = [
                *Base.Meta.indexes,
                models.Index(fields=["x"], name="a"),
            ]
    """
    module = _parse(source)
    alias, needs_models_import = _models_alias(module)
    value = _prepare_element(element, alias, _quote_style(module))
    for imp in imports:
        _check_name_free(module, imp)
    editor = _MetaEditor(model, attribute, name, add=value, inherited=inherited)
    new_module = module.visit(editor)
    editor.raise_if_failed()
    if not editor.changed:
        return source
    context = CodemodContext()
    if needs_models_import:
        AddImportsVisitor.add_needed_import(context, "django.db", "models")
    for imp in imports:
        AddImportsVisitor.add_needed_import(context, imp.module, imp.name)
    with_imports = AddImportsVisitor(context).transform_module(new_module)
    return _sort_added_imports(new_module, with_imports).code


def remove_from_meta(source: str, model: str, attribute: MetaList, *, name: str) -> str:
    """``source`` without the entry called ``name`` in ``model``'s ``Meta.<attribute>``.

    Raises :class:`UnsafeEdit` when the entry cannot be found as a literal ``…(name="…")`` call
    in a literal list.
    """
    module = _parse(source)
    editor = _MetaEditor(model, attribute, name, add=None)
    new_module = module.visit(editor)
    editor.raise_if_failed()
    if not editor.changed:
        raise UnsafeEdit(f"{model}.Meta.{attribute} has no literal entry named {name!r}")
    return new_module.code


def declared_names(source: str, model: str, attribute: MetaList) -> tuple[str, ...]:
    """Names of the literal entries of ``model``'s ``Meta.<attribute>`` (for idempotence)."""
    module = _parse(source)
    cls = _find_class(module, model)
    meta = _find_meta(cls) if cls is not None else None
    assign = _find_assign(meta, attribute) if meta is not None else None
    if assign is None or not isinstance(assign.value, cst.List | cst.Tuple):
        return ()
    return tuple(n for e in assign.value.elements if (n := _entry_name(e.value)) is not None)


__all__ = [
    "Inherited",
    "MetaList",
    "NeededImport",
    "UnsafeEdit",
    "add_to_meta",
    "declared_names",
    "remove_from_meta",
]
