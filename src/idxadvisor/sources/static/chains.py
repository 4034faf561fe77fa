"""Queryset chains in Python source, found with the stdlib ``ast`` (no Django needed).

>>> import ast
>>> tree = ast.parse("def f(now):\\n    return Rule.objects.filter(a=1).order_by('b')[:5]\\n")
>>> [c] = find_chains(tree, manager_names=frozenset({"objects"}))
>>> (ast.unparse(c.model_expr), c.manager, [s.method for s in c.steps], c.function, c.node.lineno)
('Rule', 'objects', ['filter', 'order_by', '[]'], 'f', 2)

A chain is ``<model>.<manager>.<call or slice>...``, or, in a method, one that starts from the
object itself: ``self.filter(...)``, ``self.get_queryset().filter(...)``,
``super().get_queryset()...`` (``manager == ""``; what ``self`` is — a manager, a queryset, a
ModelAdmin, a view — is for the ORM rebuild to say). ``<model>`` may also be an instance
(``order.items.filter(...)``, a related manager). Only the outermost expression of a chain is
reported (``Rule.objects.filter(a=1)`` inside the example above is not a chain of its own).
Chains nested in another chain's arguments (subqueries) are reported too; the ORM rebuild
consumes them as part of their outer query.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

# Managers every model has, whatever the project declares.
DEFAULT_MANAGER_NAMES = frozenset({"objects", "_default_manager", "_base_manager"})
# Queryset methods a chain on ``self`` / ``super()`` may start with (besides the class's own
# methods): what managers, querysets, views and admins call on themselves to build a query.
SELF_ENTRY_METHODS = frozenset(
    {
        "get_queryset",
        "all",
        "filter",
        "exclude",
        "order_by",
        "annotate",
        "alias",
        "values",
        "values_list",
        "select_related",
        "prefetch_related",
        "distinct",
        "only",
        "defer",
        "count",
        "exists",
        "get",
        "first",
        "last",
        "earliest",
        "latest",
        "update",
        "delete",
        "aggregate",
        "in_bulk",
        "select_for_update",
        "none",
    }
)


@dataclass(frozen=True, slots=True)
class Step:
    """One link of a chain: a method call (``method`` its name) or a slice (``method == "[]"``)."""

    method: str
    node: ast.Call | ast.Subscript


@dataclass(frozen=True, slots=True)
class QuerysetChain:
    node: ast.expr  # the whole expression, outermost link
    model_expr: ast.expr  # before the manager: `Rule`, `models.Rule`, `cls`, `get_user_model()`
    manager: str
    steps: tuple[Step, ...]
    function: str = ""  # enclosing def, "" at module level
    class_name: str | None = None  # enclosing class, for `cls.objects` in class methods

    @property
    def on_self(self) -> bool:
        """Starts from the method's own object: ``self.filter()``, ``super().get_queryset()``."""
        return not self.manager


def unwind(node: ast.AST) -> tuple[ast.expr, str, tuple[Step, ...]] | None:
    """``(model_expr, manager, steps)`` when ``node`` reads like a queryset chain, else None."""
    steps: list[Step] = []
    cur: ast.AST = node
    while True:
        if isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute):
            steps.append(Step(cur.func.attr, cur))
            cur = cur.func.value
        elif isinstance(cur, ast.Subscript):
            steps.append(Step("[]", cur))
            cur = cur.value
        elif (
            isinstance(cur, ast.Attribute)
            and steps
            and (
                _is_dotted_name(cur.value)
                or is_get_user_model(cur.value)
                or get_model_label(cur.value) is not None
            )
        ):
            return cur.value, cur.attr, tuple(reversed(steps))
        elif (
            isinstance(cur, ast.expr)
            and steps
            and (is_self(cur) or is_super(cur))
            and isinstance(steps[-1].node, ast.Call)
        ):
            return cur, "", tuple(reversed(steps))
        else:
            return None


def is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def is_super(node: ast.AST) -> bool:
    """``super()`` (or ``super(Cls, self)``)."""
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (node.func.id == "super")
    )


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.C`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def is_get_user_model(node: ast.AST) -> bool:
    """``get_user_model()`` (or ``auth.get_user_model()``): the project's user model."""
    return (
        isinstance(node, ast.Call)
        and not node.args
        and not node.keywords
        and (dotted_name(node.func) or "").rpartition(".")[2] == "get_user_model"
    )


def get_model_label(node: ast.AST) -> str | None:
    """``"app.Model"`` for ``apps.get_model("app", "Model")`` or ``apps.get_model("app.Model")``
    with literal names (django-activity-stream's ``apps.get_model('actstream', 'follow')``),
    else None.

    >>> get_model_label(ast.parse("apps.get_model('actstream', 'follow')", mode="eval").body)
    'actstream.follow'
    """
    if not (
        isinstance(node, ast.Call)
        and not node.keywords
        and (dotted_name(node.func) or "").rpartition(".")[2] == "get_model"
        and 1 <= len(node.args) <= 2
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    ):
        return None
    names = [a.value for a in node.args if isinstance(a, ast.Constant)]
    label = ".".join(str(n) for n in names)
    return label if label.count(".") == 1 else None


def _is_dotted_name(node: ast.AST) -> bool:
    return dotted_name(node) is not None


@dataclass
class _Finder(ast.NodeVisitor):
    manager_names: frozenset[str]
    found: list[QuerysetChain] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    classes: list[str | None] = field(default_factory=list)
    methods: list[frozenset[str]] = field(default_factory=list)  # each class's own methods
    inner: set[int] = field(default_factory=set)  # id() of links that continue into a chain

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self.classes.append(None)  # `cls` only means the class directly inside its methods
        self.generic_visit(node)
        self.classes.pop()
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        self.methods.append(
            frozenset(
                n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            )
        )
        self.generic_visit(node)
        self.methods.pop()
        self.classes.pop()

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Call | ast.Subscript) and id(node) not in self.inner:
            unwound = unwind(node)
            if unwound is not None and (
                unwound[1] in self.manager_names or self._starts_on_self(unwound[1], unwound[2])
            ):
                model_expr, manager, steps = unwound
                for step in steps[:-1]:
                    self.inner.add(id(step.node))
                self.found.append(
                    QuerysetChain(
                        node=node,
                        model_expr=model_expr,
                        manager=manager,
                        steps=steps,
                        function=self.functions[-1] if self.functions else "",
                        class_name=self._method_class(),
                    )
                )
        super().generic_visit(node)

    def _starts_on_self(self, manager: str, steps: tuple[Step, ...]) -> bool:
        # Only directly in a method, and only a queryset method or one of the class's own.
        return (
            not manager
            and self._method_class() is not None
            and (steps[0].method in SELF_ENTRY_METHODS or steps[0].method in self.methods[-1])
        )

    def _method_class(self) -> str | None:
        # Inside `def` directly in `class`: classes == [..., "Cls", None]
        if len(self.classes) >= 2 and self.classes[-1] is None:
            return self.classes[-2]
        return None


def find_chains(tree: ast.AST, manager_names: frozenset[str]) -> list[QuerysetChain]:
    """Every outermost chain on one of ``manager_names``, in source order (outer before inner)."""
    finder = _Finder(manager_names)
    finder.visit(tree)
    chains = finder.found
    chains.sort(
        key=lambda c: (
            c.node.lineno,
            c.node.col_offset,
            -(c.node.end_lineno or 0),
            -(c.node.end_col_offset or 0),
        )
    )
    return chains
