"""What the checks read of a source file, once per file: its comments by line, the expression
at each position, and the function or class each line belongs to.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "q.py"
>>> _ = p.write_text("class A:\\n    def f(self):\\n        return X.objects.filter(a=1)[:5]"
...                  "  # idxadvisor: ignore[IDX001]\\n")
>>> src = SourceFile.read(p)
>>> src.scope(3), src.call_at(3, 16), src.comment(3)
('A.f', 'X.objects.filter(...)', '# idxadvisor: ignore[IDX001]')
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SourceFile:
    comments: dict[int, str] = field(default_factory=dict)
    # (line, 0-based column) → the outermost expression starting there
    expressions: dict[tuple[int, int], ast.expr] = field(default_factory=dict)
    # (first line, last line, qualname) of every function and class, outermost first
    scopes: tuple[tuple[int, int, str], ...] = ()

    @classmethod
    def read(cls, path: Path) -> SourceFile | None:
        """The file parsed; None when it cannot be read or tokenized at all."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        comments: dict[int, str] = {}
        try:
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type == tokenize.COMMENT:
                    comments[tok.start[0]] = comments.get(tok.start[0], "") + tok.string
        except (tokenize.TokenError, SyntaxError):
            return None
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return cls(comments)
        expressions: dict[tuple[int, int], ast.expr] = {}
        for node in ast.walk(tree):  # breadth first: the outermost expression comes first
            if isinstance(node, ast.expr):
                expressions.setdefault((node.lineno, node.col_offset), node)
        return cls(comments, expressions, tuple(_scopes(tree)))

    def comment(self, line: int) -> str:
        return self.comments.get(line, "")

    def expression_at(self, line: int, col: int) -> ast.expr | None:
        """The expression starting at ``line`` and 1-based ``col``."""
        return self.expressions.get((line, max(col, 1) - 1))

    def last_line(self, line: int, col: int) -> int:
        node = self.expression_at(line, col)
        return node.end_lineno or line if node is not None else line

    def scope(self, line: int) -> str:
        """The qualified name of the innermost function or class holding ``line``;
        ``<module>`` at the top level."""
        found = "<module>"
        for first, last, name in self.scopes:
            if first <= line <= last:
                found = name  # outermost first, so the last hit is the innermost
        return found

    def call_at(self, line: int, col: int) -> str | None:
        """The queryset call at this place, abbreviated to its first call
        (``Model.objects.filter(...)``, ``qs[:20]`` when it is built elsewhere)."""
        node = self.expression_at(line, col)
        return abbreviate(node) if node is not None else None


def abbreviate(node: ast.expr) -> str:
    """A queryset expression shortened to its first method call on what it starts from.

    >>> abbreviate(ast.parse('Hook.objects.filter(a=1).order_by("b")[:10]', mode="eval").body)
    'Hook.objects.filter(...)'
    >>> abbreviate(ast.parse("qs[:20]", mode="eval").body)
    'qs[:20]'
    """
    innermost: ast.Call | None = None
    current: ast.expr = node
    while True:
        if isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute):
            innermost = current
            current = current.func.value
        elif isinstance(current, ast.Subscript | ast.Attribute):
            current = current.value
        else:
            break
    if innermost is not None and isinstance(innermost.func, ast.Attribute):
        return f"{ast.unparse(innermost.func.value)}.{innermost.func.attr}(...)"
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _scopes(tree: ast.Module) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                out.append((first, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


class SourceCache:
    """Each file read once per run."""

    def __init__(self) -> None:
        self._files: dict[Path, SourceFile | None] = {}

    def get(self, path: Path) -> SourceFile | None:
        if path not in self._files:
            self._files[path] = SourceFile.read(path)
        return self._files[path]
