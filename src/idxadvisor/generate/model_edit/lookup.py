"""Finding things in a parsed models module: the class, its ``Meta``, the list, an entry's name."""

from __future__ import annotations

import libcst as cst

from idxadvisor.errors import UsageError
from idxadvisor.generate.model_edit.records import UnsafeEdit

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
    line = found[0]
    assert isinstance(line, cst.SimpleStatementLine)  # _assign_target found it: a simple line
    small = line.body[0]
    if not isinstance(small, cst.Assign | cst.AnnAssign) or len(line.body) != 1:
        raise UnsafeEdit(f"Meta.{attribute} is not a plain assignment")
    return small


def _entry_name(node: cst.BaseExpression) -> str | None:
    """The literal ``name=`` of an ``…Index(...)`` / ``…Constraint(...)`` call."""
    if not isinstance(node, cst.Call):
        return None
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == "name":
            if isinstance(arg.value, cst.SimpleString):
                name = arg.value.evaluated_value
                return name if isinstance(name, str) else None  # b"…" is no index name
            return None
    return None


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
        def leave_Attribute(
            self, original: cst.Attribute, updated: cst.Attribute
        ) -> cst.BaseExpression:
            if isinstance(updated.value, cst.Name) and updated.value.value == "models":
                return updated.with_changes(value=cst.Name(alias))
            return updated

        def leave_SimpleString(
            self, original: cst.SimpleString, updated: cst.SimpleString
        ) -> cst.BaseExpression:
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

    rewritten = value.visit(_Rewrite())
    assert isinstance(rewritten, cst.BaseExpression)  # only leaves are swapped, none removed
    return rewritten
