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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from idxadvisor.errors import UsageError

MetaList = Literal["indexes", "constraints"]

# Longest line we produce before breaking a call's arguments over several lines (ruff's default
# plus a margin the user's own config likely allows).
_MAX_LINE = 99


class UnsafeEdit(UsageError):
    """The models file cannot be edited safely; the message says why."""


@dataclass(frozen=True, slots=True)
class NeededImport:
    """``from <module> import <name>``, e.g. ``NeededImport("django.db.models", "Q")``."""

    module: str
    name: str


def add_to_meta(
    source: str,
    model: str,
    attribute: MetaList,
    element: str,
    *,
    name: str,
    imports: Iterable[NeededImport] = (),
) -> str:
    """``source`` with ``element`` appended to ``model``'s ``Meta.<attribute>`` list.

    ``element`` is Python source that refers to ``django.db.models`` as ``models.``; it is
    rewritten to the alias the file uses. ``Meta`` and the list are created when missing,
    ``imports`` are added when missing. When the list already holds an entry called ``name``
    the source comes back unchanged.
    """
    module = _parse(source)
    alias, needs_models_import = _models_alias(module)
    value = _prepare_element(element, alias, _quote_style(module))
    for imp in imports:
        _check_name_free(module, imp)
    editor = _MetaEditor(model, attribute, name, add=value)
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


def _sort_added_imports(before: cst.Module, after: cst.Module) -> cst.Module:
    """Move each import statement libcst appended to where isort would have put it: before
    the first ``from`` import of the same block whose module sorts after it."""
    old = {before.code_for_node(s) for s in before.body}
    body = [_sorted_names(s) if before.code_for_node(s) not in old else s for s in after.body]
    modules_before = {_from_module(s) for s in before.body}
    added = [s for s in body if _from_module(s) and _from_module(s) not in modules_before]
    for stmt in added:
        body.remove(stmt)
        module = _from_module(stmt)
        for i, other in enumerate(body):
            other_module = _from_module(other)
            if other_module and other_module.split(".")[0] == module.split(".")[0] and (
                other_module > module
            ):
                body.insert(i, stmt.with_changes(leading_lines=()))
                break
        else:
            body.insert(_after_last_import(body), stmt)
    return after.with_changes(body=body)


def _sorted_names(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """``from m import Q, F`` (a name merged in) → ``from m import F, Q`` on one line."""
    if not _from_module(stmt):
        return stmt
    small = stmt.body[0]  # type: ignore[attr-defined]
    if isinstance(small.names, cst.ImportStar) or small.lpar:
        return stmt
    names = sorted(small.names, key=lambda a: a.evaluated_name)
    names = [
        a.with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            if i < len(names) - 1
            else cst.MaybeSentinel.DEFAULT
        )
        for i, a in enumerate(names)
    ]
    return stmt.with_changes(body=[small.with_changes(names=names)])  # type: ignore[attr-defined]


def _from_module(stmt: cst.CSTNode) -> str:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, cst.ImportFrom) and not small.relative:
            return _dotted(small.module)
    return ""


def _after_last_import(body: list) -> int:
    last = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Import | cst.ImportFrom) for s in stmt.body
        ):
            last = i + 1
    return last


# --- parsing and lookups ---------------------------------------------------------------------


def _parse(source: str) -> cst.Module:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise UnsafeEdit(f"the models file does not parse: {exc.message}") from exc


def _find_class(module: cst.Module, name: str) -> cst.ClassDef | None:
    found = [s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == name]
    return found[0] if len(found) == 1 else None


def _find_meta(cls: cst.ClassDef) -> cst.ClassDef | None:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    metas = [s for s in body if isinstance(s, cst.ClassDef) and s.name.value == "Meta"]
    return metas[-1] if metas else None


def _assign_target(stmt: cst.CSTNode) -> tuple[str, cst.BaseExpression | None] | None:
    """``(name, value)`` for ``name = value`` / ``name: T = value`` simple statements."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return None
    for small in stmt.body:
        if isinstance(small, cst.Assign):
            for t in small.targets:
                if isinstance(t.target, cst.Name):
                    return t.target.value, small.value
        if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
            return small.target.value, small.value
        if isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            return small.target.value, None  # `indexes += …`: not a plain literal
    return None


def _find_assign(meta: cst.ClassDef, attribute: str) -> cst.Assign | cst.AnnAssign | None:
    body = meta.body.body if isinstance(meta.body, cst.IndentedBlock) else ()
    found = []
    for stmt in body:
        target = _assign_target(stmt)
        if target is not None and target[0] == attribute:
            found.append(stmt)
    if not found:
        return None
    if len(found) > 1:
        raise UnsafeEdit(f"Meta.{attribute} is assigned more than once")
    small = found[0].body[0]  # type: ignore[attr-defined]
    if not isinstance(small, cst.Assign | cst.AnnAssign) or len(found[0].body) != 1:  # type: ignore[attr-defined]
        raise UnsafeEdit(f"Meta.{attribute} is not a plain assignment")
    return small


def _entry_name(node: cst.BaseExpression) -> str | None:
    """The literal ``name=`` of an ``…Index(...)`` / ``…Constraint(...)`` call."""
    if not isinstance(node, cst.Call):
        return None
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == "name":
            if isinstance(arg.value, cst.SimpleString):
                return arg.value.evaluated_value  # type: ignore[return-value]
            return None
    return None


def _models_alias(module: cst.Module) -> tuple[str, bool]:
    """How the file names ``django.db.models``, and whether an import must be added."""
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and _dotted(small.module) == "django.db":
                if isinstance(small.names, cst.ImportStar):
                    continue
                for alias in small.names:
                    if _dotted(alias.name) == "models":
                        asname = alias.asname
                        if asname is not None and isinstance(asname.name, cst.Name):
                            return asname.name.value, False
                        return "models", False
            if isinstance(small, cst.Import):
                for alias in small.names:
                    if _dotted(alias.name) == "django.db.models" and alias.asname is not None:
                        return alias.asname.name.value, False  # type: ignore[union-attr]
    if "models" in _module_bindings(module):
        raise UnsafeEdit("the file binds `models` to something other than django.db.models")
    return "models", True


def _dotted(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _module_bindings(module: cst.Module) -> dict[str, str]:
    """Top-level names and where they come from (``"django.db.models.Q"``, ``"<local>"``)."""
    bound: dict[str, str] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef | cst.FunctionDef):
            bound[stmt.name.value] = "<local>"
            continue
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                mod = _dotted(small.module)
                for alias in small.names:
                    local = alias.evaluated_alias or alias.evaluated_name
                    bound[local] = f"{mod}.{alias.evaluated_name}"
            elif isinstance(small, cst.Import):
                for alias in small.names:
                    local = alias.evaluated_alias or alias.evaluated_name.split(".")[0]
                    bound[local] = alias.evaluated_name
            elif isinstance(small, cst.Assign | cst.AnnAssign):
                targets = small.targets if isinstance(small, cst.Assign) else [small]
                for t in targets:
                    if isinstance(t.target, cst.Name):
                        bound[t.target.value] = "<local>"
    return bound


def _check_name_free(module: cst.Module, imp: NeededImport) -> None:
    where = _module_bindings(module).get(imp.name)
    if where is None or where == f"{imp.module}.{imp.name}":
        return
    # `from django.db.models.functions.text import Upper` is the same object as our import.
    if where.startswith(imp.module + ".") and where.endswith("." + imp.name):
        return
    raise UnsafeEdit(f"the file already uses the name {imp.name!r} for {where}")


def _quote_style(module: cst.Module) -> str:
    """The quote most string literals of the file use: keep the user's style."""
    counts = {'"': 0, "'": 0}

    class _Count(cst.CSTVisitor):
        def visit_SimpleString(self, node: cst.SimpleString) -> None:
            q = node.quote
            if q in counts:
                counts[q] += 1

    module.visit(_Count())
    return "'" if counts["'"] > counts['"'] else '"'


def _prepare_element(element: str, alias: str, quote: str) -> cst.BaseExpression:
    try:
        value = cst.parse_expression(element)
    except cst.ParserSyntaxError as exc:
        raise UsageError(f"not a Python expression: {element!r}") from exc

    class _Rewrite(cst.CSTTransformer):
        def leave_Attribute(self, original, updated):  # type: ignore[no-untyped-def]
            if isinstance(updated.value, cst.Name) and updated.value.value == "models":
                return updated.with_changes(value=cst.Name(alias))
            return updated

        def leave_SimpleString(self, original, updated):  # type: ignore[no-untyped-def]
            text = updated.evaluated_value
            if (
                updated.prefix == ""
                and updated.quote in ("'", '"')
                and isinstance(text, str)
                and "\\" not in updated.value
                and "'" not in text
                and '"' not in text
            ):
                return updated.with_changes(value=f"{quote}{text}{quote}")
            return updated

    return value.visit(_Rewrite())


# --- the transformation ----------------------------------------------------------------------


class _MetaEditor(cst.CSTTransformer):
    """Adds ``add`` to (or, when ``add`` is None, removes ``name`` from) Meta.<attribute>."""

    def __init__(
        self, model: str, attribute: MetaList, name: str, add: cst.BaseExpression | None
    ) -> None:
        super().__init__()
        self.model = model
        self.attribute = attribute
        self.name = name
        self.add = add
        self.changed = False
        self.error: str | None = None
        self.found_class = False
        self._depth = 0

    def raise_if_failed(self) -> None:
        if not self.found_class and self.error is None:
            self.error = f"class {self.model} is not defined at the top level of the file"
        if self.error is not None:
            raise UnsafeEdit(self.error)

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._depth += 1
        return self._depth == 1  # only top-level classes are models we edit

    def leave_ClassDef(
        self, original: cst.ClassDef, updated: cst.ClassDef
    ) -> cst.ClassDef:
        self._depth -= 1
        if self._depth != 0 or original.name.value != self.model:
            return updated
        if self.found_class:
            self.error = f"class {self.model} is defined more than once in the file"
            return updated
        self.found_class = True
        try:
            return self._edit_model(updated)
        except UnsafeEdit as exc:
            self.error = str(exc)
            return updated

    def _edit_model(self, cls: cst.ClassDef) -> cst.ClassDef:
        if not isinstance(cls.body, cst.IndentedBlock):
            raise UnsafeEdit(f"class {self.model} is written on one line")
        meta = _find_meta(cls)
        if meta is None:
            if self.add is None:
                raise UnsafeEdit(f"{self.model} has no Meta")
            if len(cls.bases) != 1 or not _dotted(cls.bases[0].value).endswith("Model"):
                # An abstract parent's Meta is inherited only while the child declares none.
                raise UnsafeEdit(
                    f"{self.model} inherits from {_code(cls.bases[0].value) if cls.bases else '?'}"
                    "; a new Meta would hide the inherited one"
                )
            return self._insert_meta(cls)
        new_meta = self._edit_meta(meta)
        body = [new_meta if s is meta else s for s in cls.body.body]
        return cls.with_changes(body=cls.body.with_changes(body=body))

    def _edit_meta(self, meta: cst.ClassDef) -> cst.ClassDef:
        if not isinstance(meta.body, cst.IndentedBlock):
            raise UnsafeEdit(f"{self.model}.Meta is written on one line")
        assign = _find_assign(meta, self.attribute)
        if assign is None:
            if self.add is None:
                raise UnsafeEdit(f"{self.model}.Meta has no {self.attribute}")
            if meta.bases:
                raise UnsafeEdit(
                    f"{self.model}.Meta inherits from {_code(meta.bases[0].value)}; a new "
                    f"{self.attribute} list would hide the inherited one"
                )
            stmt = cst.parse_statement(f"{self.attribute} = []\n")
            stmt = stmt.with_changes(
                body=[stmt.body[0].with_changes(value=_multiline_list([self.add]))]  # type: ignore[attr-defined]
            )
            body = list(meta.body.body)
            if len(body) == 1 and _is_pass(body[0]):
                body = []
            self.changed = True
            return meta.with_changes(body=meta.body.with_changes(body=[*body, stmt]))
        value = assign.value
        if not isinstance(value, cst.List | cst.Tuple) or (
            isinstance(value, cst.Tuple) and not value.lpar
        ):
            raise UnsafeEdit(
                f"{self.model}.Meta.{self.attribute} is not a literal list "
                f"({_code(value)[:60]})"
            )
        names = [_entry_name(e.value) for e in value.elements]
        if self.add is not None:
            if self.name in names:
                return meta
            if any(isinstance(e, cst.StarredElement) for e in value.elements):
                raise UnsafeEdit(f"{self.model}.Meta.{self.attribute} unpacks another list")
            new_value = _append(value, self.add)
        else:
            if self.name not in names:
                return meta
            new_value = _remove(value, names.index(self.name))
        self.changed = True
        new_assign = assign.with_changes(value=new_value)

        class _Swap(cst.CSTTransformer):
            def leave_Assign(self, o, u):  # type: ignore[no-untyped-def]
                return new_assign if o is assign else u

            def leave_AnnAssign(self, o, u):  # type: ignore[no-untyped-def]
                return new_assign if o is assign else u

        return meta.visit(_Swap())  # type: ignore[return-value]

    def _insert_meta(self, cls: cst.ClassDef) -> cst.ClassDef:
        assert self.add is not None
        meta = cst.parse_statement(f"class Meta:\n    {self.attribute} = []\n")
        assert isinstance(meta, cst.ClassDef) and isinstance(meta.body, cst.IndentedBlock)
        assign_line = meta.body.body[0]
        assign_line = assign_line.with_changes(  # type: ignore[attr-defined]
            body=[assign_line.body[0].with_changes(value=_multiline_list([self.add]))]  # type: ignore[attr-defined]
        )
        meta = meta.with_changes(
            body=meta.body.with_changes(body=[assign_line]),
            leading_lines=[cst.EmptyLine(indent=False)],
        )
        body = list(cls.body.body)  # type: ignore[union-attr]
        # Django's style: fields, then Meta, then methods.
        at = next(
            (i for i, s in enumerate(body) if isinstance(s, cst.FunctionDef)), len(body)
        )
        if at < len(body) and not body[at].leading_lines:
            body[at] = body[at].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        body.insert(at, meta)
        self.changed = True
        return cls.with_changes(body=cls.body.with_changes(body=body))


def _is_pass(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Pass)
    )


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _newline_ws(last_line: str, comment_from: cst.ParenthesizedWhitespace | None = None):
    first = comment_from.first_line if comment_from is not None else cst.TrailingWhitespace()
    empty = comment_from.empty_lines if comment_from is not None else ()
    return cst.ParenthesizedWhitespace(
        first_line=first, empty_lines=empty, indent=True, last_line=cst.SimpleWhitespace(last_line)
    )


def _multiline_list(values: Sequence[cst.BaseExpression]) -> cst.List:
    """``[\\n    a,\\n]`` relative to the statement's own indentation."""
    elements = [
        cst.Element(
            value=_wrap_call(v, extra_indent=8),
            comma=cst.Comma(
                whitespace_after=_newline_ws("    " if i < len(values) - 1 else "")
            ),
        )
        for i, v in enumerate(values)
    ]
    return cst.List(
        elements=elements,
        lbracket=cst.LeftSquareBracket(whitespace_after=_newline_ws("    ")),
        rbracket=cst.RightSquareBracket(),
    )


def _wrap_call(value: cst.BaseExpression, extra_indent: int, element_indent: str = "    "):
    """Break a long ``Index(...)`` call over one line per argument, black-style."""
    if not isinstance(value, cst.Call) or not value.args:
        return value
    # extra_indent: the block indentation the list sits in (Meta body inside a model class).
    if extra_indent + len(element_indent) + len(_code(value)) + 1 <= _MAX_LINE:
        return value
    arg_ws = _newline_ws(element_indent + "    ")
    args = [
        a.with_changes(
            comma=cst.Comma(
                whitespace_after=arg_ws if i < len(value.args) - 1 else _newline_ws(element_indent)
            )
        )
        for i, a in enumerate(value.args)
    ]
    return value.with_changes(args=args, whitespace_before_args=arg_ws)


def _append(value: cst.List | cst.Tuple, new: cst.BaseExpression) -> cst.List | cst.Tuple:
    elements = list(value.elements)
    opening = value.lbracket.whitespace_after if isinstance(value, cst.List) else (
        value.lpar[0].whitespace_after
    )
    closing_holder = value.rbracket if isinstance(value, cst.List) else value.rpar[0]
    closing = closing_holder.whitespace_before
    if not elements:
        if isinstance(value, cst.List):
            return _multiline_list([new])
        return value.with_changes(elements=[cst.Element(new, comma=cst.Comma())])
    last = elements[-1]
    if isinstance(opening, cst.ParenthesizedWhitespace) and isinstance(
        closing, cst.ParenthesizedWhitespace
    ):
        indent = opening.last_line.value
        separator = _newline_ws(indent, comment_from=closing)
        last_comma = last.comma if isinstance(last.comma, cst.Comma) else cst.Comma()
        elements[-1] = last.with_changes(
            comma=last_comma.with_changes(whitespace_after=separator)
        )
        elements.append(
            cst.Element(
                value=_wrap_call(new, extra_indent=8, element_indent=indent),
                comma=cst.Comma(),
            )
        )
        new_closing = _newline_ws(closing.last_line.value)
    else:  # one line: `[a, b]` → `[a, b, new]`
        last_comma = last.comma if isinstance(last.comma, cst.Comma) else cst.Comma()
        elements[-1] = last.with_changes(
            comma=last_comma.with_changes(whitespace_after=cst.SimpleWhitespace(" "))
        )
        elements.append(cst.Element(value=new))
        new_closing = closing
    if isinstance(value, cst.List):
        return value.with_changes(
            elements=elements, rbracket=value.rbracket.with_changes(whitespace_before=new_closing)
        )
    rpar = [value.rpar[0].with_changes(whitespace_before=new_closing), *value.rpar[1:]]
    return value.with_changes(elements=elements, rpar=rpar)


def _remove(value: cst.List | cst.Tuple, index: int) -> cst.List | cst.Tuple:
    """Drop one entry with its own trailing comment; the comments above the next entry and the
    previous entry's trailing comment stay."""
    elements = list(value.elements)
    removed = elements.pop(index)
    is_list = isinstance(value, cst.List)
    opening = value.lbracket.whitespace_after if is_list else value.lpar[0].whitespace_after
    closing = value.rbracket.whitespace_before if is_list else value.rpar[0].whitespace_before
    was_last = index == len(elements)
    if not elements:
        empty = cst.SimpleWhitespace("")
        if is_list:
            return value.with_changes(
                elements=[],
                lbracket=value.lbracket.with_changes(whitespace_after=empty),
                rbracket=value.rbracket.with_changes(whitespace_before=empty),
            )
        return value.with_changes(elements=[])
    after_removed = (
        closing
        if was_last or not isinstance(removed.comma, cst.Comma)
        else removed.comma.whitespace_after
    )
    before_removed = (
        opening if index == 0 else elements[index - 1].comma.whitespace_after  # type: ignore[union-attr]
    )
    if isinstance(before_removed, cst.ParenthesizedWhitespace) and isinstance(
        after_removed, cst.ParenthesizedWhitespace
    ):
        # Keep the line comment of what comes before, the comment lines of what comes after.
        joined: cst.BaseParenthesizableWhitespace = after_removed.with_changes(
            first_line=before_removed.first_line
        )
    else:
        joined = after_removed if was_last else before_removed
    if index == 0:
        opening = joined
    elif was_last:
        prev = elements[-1]
        had_comma = isinstance(removed.comma, cst.Comma)
        elements[-1] = prev.with_changes(
            comma=cst.Comma() if had_comma else cst.MaybeSentinel.DEFAULT
        )
        closing = joined
    else:
        prev = elements[index - 1]
        elements[index - 1] = prev.with_changes(
            comma=prev.comma.with_changes(whitespace_after=joined)  # type: ignore[union-attr]
        )
    if is_list:
        return value.with_changes(
            elements=elements,
            lbracket=value.lbracket.with_changes(whitespace_after=opening),
            rbracket=value.rbracket.with_changes(whitespace_before=closing),
        )
    return value.with_changes(
        elements=elements,
        lpar=[value.lpar[0].with_changes(whitespace_after=opening), *value.lpar[1:]],
        rpar=[value.rpar[0].with_changes(whitespace_before=closing), *value.rpar[1:]],
    )
