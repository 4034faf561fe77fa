"""The static scanner: querysets in a project's source, compiled to SQL by Django, no database.

It sets Django up for the project, so the example is shown, not run as a doctest
(``tests/test_static_scan.py`` runs it on the example projects)::

    result = scan(load_project(Path("examples/alerting"), None))
    result.statements[0].origin  # Origin(path='monitoring/queries.py', line=31, ...)

Each file is parsed once with :mod:`ast`; :mod:`idxadvisor.sources.static.rebinding` joins querysets
built over several statements, :mod:`idxadvisor.sources.static.chains` finds the queryset chains,
:mod:`idxadvisor.sources.static.orm_rebuild` rebuilds each through the ORM and takes the SQL
Django would send, :mod:`idxadvisor.sources.static.sql_render` writes it in the project's
convention. Whatever cannot be rebuilt comes back as
:class:`~idxadvisor.types.workload.Skipped` with the reason; a file Python cannot parse is one
``Skipped(kind="file")`` and the scan goes on.

Skipped directories when scanning a whole project: migrations, tests (``tests/``, ``test_*.py``,
``tests.py``, ``conftest.py``: test code is not the production workload), virtualenvs,
``site-packages``, ``node_modules`` and hidden directories. Explicit ``paths`` are scanned as
given.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from idxadvisor.errors import one_line
from idxadvisor.project import DjangoProject, setup_django
from idxadvisor.sources.static.chains import QuerysetChain, find_chains
from idxadvisor.sources.static.orm_rebuild import NotAQuery, Rebuilder, Unresolvable, no_database
from idxadvisor.sources.static.rebinding import inline_rebound_querysets
from idxadvisor.sources.static.registry import ModelIndex
from idxadvisor.sources.static.scope import ModuleScope
from idxadvisor.sources.static.sql_render import render
from idxadvisor.types.workload import Origin, Skipped, Statement

_SKIP_DIRS = frozenset(
    {"migrations", "tests", "node_modules", "site-packages", "venv", "__pycache__"}
)
_CODE_LIMIT = 200
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_SPACE_BEFORE_DOT = re.compile(r"\s+\.")
_SPACE_IN_PARENS = re.compile(r"\(\s+|\s+\)|\[\s+|\s+\]")


@dataclass(frozen=True, slots=True)
class StaticScan:
    statements: tuple[Statement, ...] = ()
    skipped: tuple[Skipped, ...] = ()


def scan(project: DjangoProject, paths: Sequence[Path] | None = None) -> StaticScan:
    """Every queryset in the project's source (or only in ``paths``) as a static Statement."""
    setup_django(project)  # a no-op when the project is already set up
    root = project.root.resolve()
    models = ModelIndex.build()
    if paths is None:
        files = list(iter_source_files(root))
    else:  # exactly what was asked (a pre-commit hook passes the changed files), dirs expanded
        files = [f for p in map(Path, paths) for f in (iter_source_files(p) if p.is_dir() else [p])]
    statements: list[Statement] = []
    skipped: list[Skipped] = []
    with no_database(), warnings.catch_warnings():
        # e.g. "DateTimeField received a naive datetime" for a literal date in the source
        warnings.simplefilter("ignore")
        for path in files:
            module_root = project.module_root(path.resolve())
            found, missed = _scan_file(path, root, models, module_root)
            statements.extend(found)
            skipped.extend(missed)
    return StaticScan(tuple(statements), tuple(skipped))


def iter_source_files(root: Path) -> Iterator[Path]:
    """The project's own .py files, in a stable order, without tests/migrations/venvs."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _SKIP_DIRS
            and not d.startswith(".")
            and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(filenames):
            if name.endswith(".py") and not _is_test_file(name):
                yield here / name


def _is_test_file(name: str) -> bool:
    return (
        name in ("tests.py", "conftest.py")
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name.endswith("_tests.py")
    )


def _scan_file(
    path: Path, root: Path, models: ModelIndex, module_root: Path | None = None
) -> tuple[list[Statement], list[Skipped]]:
    display, module, is_package = _names(path, root, module_root or root)
    parsed = _parse(path, display)
    if isinstance(parsed, Skipped):
        return [], [parsed]
    tree, source = parsed
    names = models.manager_names | models.related_names
    if (
        "self." not in source
        and "super()" not in source
        and not any(f".{name}" in source for name in names)
    ):
        return [], []  # cheap pre-filter: no manager attribute, no method, no queryset
    inlined = inline_rebound_querysets(tree, names)
    # A value that only built a queryset used further on is not a query of its own.
    chains = [c for c in find_chains(tree, names) if id(c.node) not in inlined]
    if not chains:
        return [], []
    functions, bound = _enclosing_functions(tree)
    lines = _LINES.findall(source)  # the lines as the tokenizer counts them (\n, \r\n, \r)
    rebuilder = Rebuilder(
        models=models,
        scope=ModuleScope.of(tree, module, is_package=is_package),
        chains={id(c.node): c for c in chains},
    )
    # Chains bound to a local name go last: when another chain uses the name as a subquery
    # (`Exists(paid)`), it has consumed them by then and they are not queries of their own.
    statements: list[Statement] = []
    skipped: list[Skipped] = []
    ran_elsewhere: set[tuple[Origin, str]] = set()
    for chain in sorted(chains, key=lambda c: id(c.node) in bound):
        if id(chain.node) in rebuilder.consumed:
            continue  # a subquery of a chain already compiled
        origin = Origin(display, chain.node.lineno, chain.node.col_offset + 1, chain.function)
        code = _code(lines, chain)
        try:
            compiled = rebuilder.compile(chain, functions.get(id(chain.node)))
            sql = render(compiled.sql, compiled.params, compiled.runtime_numbers)
        except NotAQuery:
            # Inserts (create, bulk_create) read no index: out of scope, not a failure; and
            # `x.<a manager's name>.filter()` / `self.filter()` on something that is no model,
            # manager or queryset is no queryset at all.
            continue
        except (Unresolvable, ValueError) as exc:
            skipped.append(Skipped(str(exc), origin))
            continue
        model = compiled.model
        if compiled.on_callers_queryset:
            origin = replace(origin, on_callers_queryset=True)
        if compiled.ran_at is not None:
            origin = replace(origin, line=compiled.ran_at[0], col=compiled.ran_at[1])
            if (origin, sql) in ran_elsewhere:
                continue  # another use of the same row: one call site, counted once
            ran_elsewhere.add((origin, sql))
        statements.append(
            Statement(
                sql=sql,
                origin=origin,
                source="static",
                model=f"{model._meta.app_label}.{model.__name__}" if model else None,
                code=code,
            )
        )
    statements.sort(key=lambda s: s.origin or Origin("", 0))
    skipped.sort(key=lambda s: s.origin or Origin("", 0))
    return statements, skipped


def _parse(path: Path, display: str) -> tuple[ast.Module, str] | Skipped:
    """The file's AST and text, or why the whole file is skipped (``kind="file"``).

    Every file is parsed, not only those that look like they hold a queryset: a file Python
    cannot read is reported, never passed over in silence. The bytes are parsed as Python reads
    them (a BOM or a ``# -*- coding: latin-1 -*-`` line is honoured), so a file Python imports
    is never refused here.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(f"cannot read file: {one_line(exc)}", Origin(display, 0), kind="file")
    undecodable = _undecodable(data, display)
    if undecodable is not None:
        return undecodable
    try:
        tree = ast.parse(data, filename=display)
    except SyntaxError as exc:
        return Skipped(
            f"cannot parse: SyntaxError: {exc.msg}",
            Origin(display, exc.lineno or 0, exc.offset or 0),
            kind="file",
        )
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return Skipped(f"cannot parse: {one_line(exc)}", Origin(display, 0), kind="file")
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    # utf-8-sig drops a BOM, so the first line's byte offsets match the AST's.
    return tree, data.decode("utf-8-sig" if encoding == "utf-8" else encoding)


def _undecodable(data: bytes, display: str) -> Skipped | None:
    """Bytes that are not text in the file's declared encoding, at their own line and column
    (Python's parser reports a different column from one version to the next)."""
    encoding = "utf-8"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        data.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except SyntaxError as exc:  # a bad coding declaration, or bad UTF-8 in the first lines
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as bad:
            return _decode_skip(data, display, "utf-8", bad)
        return Skipped(
            f"cannot parse: SyntaxError: {exc.msg}",
            Origin(display, exc.lineno or 1, exc.offset or 1),
            kind="file",
        )
    except UnicodeDecodeError as exc:
        return _decode_skip(data, display, encoding, exc)
    return None


def _decode_skip(data: bytes, display: str, encoding: str, exc: UnicodeDecodeError) -> Skipped:
    before = data[: exc.start]
    line = before.count(b"\n") + 1
    col = exc.start - (before.rfind(b"\n") + 1) + 1
    return Skipped(
        f"cannot parse: SyntaxError: (unicode error) {encoding!r} codec can't decode byte "
        f"0x{data[exc.start]:02x} in position {exc.start}: {exc.reason}",
        Origin(display, line, col),
        kind="file",
    )


def _names(path: Path, root: Path, module_root: Path) -> tuple[str, str, bool]:
    """(origin path relative to root, dotted module name relative to the import root that
    holds the file, is a package __init__)."""
    resolved = path.resolve()
    try:
        display = resolved.relative_to(root).as_posix()
    except ValueError:
        display = path.as_posix()
    try:
        relative = resolved.relative_to(module_root)
    except ValueError:
        relative = Path(resolved.name)
    parts = list(relative.with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return display, ".".join(parts), is_package


def _enclosing_functions(tree: ast.AST) -> tuple[dict[int, ast.AST], set[int]]:
    """One pass over the file: ``id(node) -> innermost def`` for calls and subscripts in a
    function, and the ids of values assigned to plain names (``name = <value>``)."""
    enclosing: dict[int, ast.AST] = {}
    assigned: set[int] = set()

    def visit(node: ast.AST, function: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if inner is not None and isinstance(child, ast.Call | ast.Subscript):
                enclosing[id(child)] = inner
            elif isinstance(child, ast.Assign) and all(
                isinstance(t, ast.Name) for t in child.targets
            ):
                assigned.add(id(child.value))
            visit(child, inner)

    visit(tree, None)
    return enclosing, assigned


def _code(lines: list[str], chain: QuerysetChain) -> str | None:
    """The chain's source text, whitespace collapsed (like ast.get_source_segment, which would
    split the whole file again for every chain)."""
    node = chain.node
    if node.end_lineno is None or node.end_col_offset is None:
        return None
    first, last = node.lineno - 1, node.end_lineno - 1
    if last >= len(lines):
        return None
    if first == last:
        segment = lines[first].encode()[node.col_offset : node.end_col_offset].decode()
    else:
        head = lines[first].encode()[node.col_offset :].decode()
        tail = lines[last].encode()[: node.end_col_offset].decode()
        segment = "".join([head, *lines[first + 1 : last], tail])
    text = _SPACE_BEFORE_DOT.sub(".", " ".join(segment.split()))
    text = _SPACE_IN_PARENS.sub(lambda m: m.group(0).strip(), text)
    return text if len(text) <= _CODE_LIMIT else text[: _CODE_LIMIT - 1] + "…"
