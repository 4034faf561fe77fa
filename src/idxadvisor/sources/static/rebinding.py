"""Querysets built over several statements, joined into one chain before the scan.

Views and services often build a queryset step by step::

    qs = Order.objects.filter(customer=customer)
    if status:
        qs = qs.filter(status=status)
    return list(qs.order_by("-created_at")[:20])

:func:`inline_rebound_querysets` rewrites, within each function and in source order, every chain
that starts from such a local name into the full chain
(``Order.objects.filter(customer=customer).filter(status=status).order_by(...)[:20]``), so the
scanner reports the query at the line that runs it. A filter applied under a condition is taken
as applied: that is the most selective variant, the one an index has to serve. The assignments
that only build the queryset are not queries of their own; their ids come back so the scanner
can leave them out.

>>> import ast
>>> tree = ast.parse(
...     "def f(c, s):\\n"
...     "    qs = Order.objects.filter(customer=c)\\n"
...     "    qs = qs.filter(status=s)\\n"
...     "    return qs.first()\\n")
>>> inlined = inline_rebound_querysets(tree, frozenset({"objects"}))
>>> ast.unparse(tree.body[0].body[2].value)
'Order.objects.filter(customer=c).filter(status=s).first()'
>>> len(inlined)
2
"""

from __future__ import annotations

import ast
import copy

from idxadvisor.sources.static.chains import unwind

# A chain ending in one of these holds a row or a number, not a queryset: `order.items`,
# `order.total` on such a name is no continuation of the query (and the query is its own).
_ROW_METHODS = frozenset(
    {
        "get",
        "first",
        "last",
        "earliest",
        "latest",
        "count",
        "exists",
        "aggregate",
        "in_bulk",
        "get_or_create",
        "update_or_create",
        "create",
        "update",
        "delete",
        "contains",
        "explain",
        "iterator",
    }
)


def inline_rebound_querysets(tree: ast.AST, manager_names: frozenset[str]) -> set[int]:
    """Rewrite ``tree`` in place (see the module docstring); the ids of the inlined values."""
    inlined: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inliner = _Inliner(manager_names, inlined)
            node.body = [inliner.visit(statement) for statement in node.body]
    return inlined


class _Inliner(ast.NodeTransformer):
    def __init__(self, manager_names: frozenset[str], inlined: set[int]) -> None:
        self.manager_names = manager_names
        self.inlined = inlined
        self.bound: dict[str, ast.expr] = {}  # local name -> the queryset chain it holds

    # A nested function or class has its own locals: handled on its own.
    def visit_FunctionDef(self, node: ast.AST) -> ast.AST:
        return node

    visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        node.value = self.visit(node.value)
        for target in node.targets:
            self._bind(target, node.value)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
        self._bind(node.target, node.value)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        node.value = self.visit(node.value)
        self._bind(node.target, None)  # qs |= other: no longer one chain
        return node

    def visit_For(self, node: ast.For | ast.AsyncFor) -> ast.AST:
        node.iter = self.visit(node.iter)
        self._bind(node.target, None)
        node.body = [self.visit(s) for s in node.body]
        node.orelse = [self.visit(s) for s in node.orelse]
        return node

    visit_AsyncFor = visit_For

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        # `qs.filter`: the start of a chain on a name that holds a queryset.
        if isinstance(node.value, ast.Name) and node.value.id in self.bound:
            node.value = self._inline(node.value.id)
            return node
        return self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id in self.bound:
            node.value = self._inline(node.value.id)
            node.slice = self.visit(node.slice)
            return node
        return self.generic_visit(node)

    def _inline(self, name: str) -> ast.expr:
        value = self.bound[name]
        self.inlined.add(id(value))
        return copy.deepcopy(value)

    def _bind(self, target: ast.AST, value: ast.expr | None) -> None:
        names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
        for name in names:
            self.bound.pop(name, None)
        if isinstance(target, ast.Name) and value is not None and self._is_chain(value):
            self.bound[target.id] = value

    def _is_chain(self, value: ast.expr) -> bool:
        unwound = unwind(value)
        if unwound is None or unwound[1] not in self.manager_names:
            return False
        last = unwound[2][-1].method
        return last not in _ROW_METHODS and not (last.startswith("a") and last[1:] in _ROW_METHODS)
