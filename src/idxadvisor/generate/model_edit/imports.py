"""The imports of a models module: the ``models`` alias, names in use, added imports kept sorted."""

from __future__ import annotations

import libcst as cst

from idxadvisor.generate.model_edit.records import NeededImport, UnsafeEdit


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
            if (
                other_module
                and other_module.split(".")[0] == module.split(".")[0]
                and (other_module > module)
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
    assert isinstance(stmt, cst.SimpleStatementLine)  # _from_module: one `from m import …`
    small = stmt.body[0]
    assert isinstance(small, cst.ImportFrom)
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
    return stmt.with_changes(body=[small.with_changes(names=names)])


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
                    asname = alias.asname
                    if (
                        _dotted(alias.name) == "django.db.models"
                        and asname is not None
                        and isinstance(asname.name, cst.Name)
                    ):
                        return asname.name.value, False
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
