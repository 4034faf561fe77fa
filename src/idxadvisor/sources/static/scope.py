"""What names mean in one module, read from its AST: imports, classes, literal constants.

>>> import ast
>>> tree = ast.parse("from .models import Rule as R\\nfrom . import models\\nLIMIT = 50\\n")
>>> scope = ModuleScope.of(tree, "monitoring.queries", is_package=False)
>>> scope.qualify("R"), scope.qualify("models.Hook"), scope.constant("LIMIT")
('monitoring.models.Rule', 'monitoring.models.Hook', 50)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from idxadvisor.sources.static.chains import dotted_name

_NO_VALUE: Any = object()


@dataclass(frozen=True, slots=True)
class ModuleScope:
    module: str  # dotted module name of the file, e.g. "monitoring.queries"
    imports: dict[str, str]  # local name -> dotted target ("monitoring.models.Rule")
    classes: frozenset[str]  # classes defined at module level
    constants: dict[str, Any]  # module-level names bound exactly once to a literal
    # module-level class -> the dotted name its body binds to ``model`` (a class-based view's
    # ``model = Book``), what ``self.model`` means in its methods
    model_attributes: dict[str, str] = field(default_factory=dict)
    class_defs: dict[str, ast.ClassDef] = field(default_factory=dict)  # module-level classes

    @classmethod
    def of(cls, tree: ast.Module, module: str, *, is_package: bool) -> ModuleScope:
        package = module if is_package else module.rpartition(".")[0]
        imports: dict[str, str] = {}
        # Imports anywhere in the file count: code imports models inside functions to dodge
        # circular imports, and a name means the same model wherever it is imported.
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        imports[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        imports[top] = top
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node.module, node.level, package)
                if base is None:
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    imports[alias.asname or alias.name] = (
                        f"{base}.{alias.name}" if base else (alias.name)
                    )
        class_defs = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        return cls(
            module,
            imports,
            frozenset(class_defs),
            _literal_constants(tree),
            _model_attributes(tree),
            class_defs,
        )

    def qualify(self, dotted: str) -> str | None:
        """The dotted target a ``name.attr...`` expression refers to, or None if unknown."""
        head, _, rest = dotted.partition(".")
        if head in self.imports:
            base = self.imports[head]
        elif head in self.classes:
            base = f"{self.module}.{head}"
        else:
            return None
        return f"{base}.{rest}" if rest else base

    def constant(self, name: str) -> Any:
        """The literal a module-level name is bound to, or :data:`NO_VALUE`."""
        return self.constants.get(name, _NO_VALUE)


NO_VALUE = _NO_VALUE


def _absolute(module: str | None, level: int, package: str) -> str | None:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base_parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
    base = ".".join(base_parts)
    if module:
        return f"{base}.{module}" if base else module
    return base


def _model_attributes(tree: ast.Module) -> dict[str, str]:
    """``{"BookList": "Book"}`` for ``class BookList(ListView): model = Book``."""
    found: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == "model"
            ):
                dotted = dotted_name(stmt.value)
                if dotted:
                    found[node.name] = dotted
    return found


def _literal_constants(tree: ast.Module) -> dict[str, Any]:
    bound: dict[str, int] = {}
    values: dict[str, Any] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    bound[name.id] = bound.get(name.id, 0) + 1
                    if value is not None and isinstance(target, ast.Name):
                        try:
                            values[name.id] = ast.literal_eval(value)
                        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                            values.pop(name.id, None)
    # `global X` rebinding in functions would make it a variable, not a constant.
    rebound = {n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names}
    return {k: v for k, v in values.items() if bound.get(k) == 1 and k not in rebound}
