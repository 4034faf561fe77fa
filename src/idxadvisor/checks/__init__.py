"""``idxadvisor check``: the registry of checks and the orchestrator that runs them.

Each check lives in its own module of this package, registers itself with :func:`register`, and
is a pure function of an :class:`~idxadvisor.pipeline.Analysis`: it yields :class:`Problem`
objects (a query, a table, a suggested index). The orchestrator turns problems into
:class:`Finding` objects, one per place in the code the query comes from, drops what the
configuration or an inline ``# idxadvisor: ignore[CODE]`` comment suppresses, and sorts them.

>>> sorted(CHECKS)
['IDX000', 'IDX001', 'IDX002', 'IDX003', 'IDX004']
>>> CHECKS["IDX001"].name
'unindexed-filter'
"""

from __future__ import annotations

import ast
import importlib
import io
import os
import pkgutil
import re
import tokenize
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from idxadvisor import pipeline
from idxadvisor.config import Config, load_config
from idxadvisor.errors import UsageError
from idxadvisor.types.analysis import Analysis
from idxadvisor.types.workload import Origin, Query, Skipped


@dataclass(frozen=True, slots=True)
class Problem:
    """What a check found about one query on one table, before it is placed in the code.

    ``details`` fills the check's message template beyond the common fields
    (``subject``, ``table``, ``columns``, ``suggestion``). ``origin`` places a problem that is
    about a file rather than a query (IDX000); ``query_id`` is then empty.
    """

    query_id: str
    table: str
    columns: tuple[str, ...]
    suggestion: str
    details: tuple[tuple[str, str], ...] = ()
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One reported line: a problem at one place of the code."""

    code: str
    path: str  # relative to the current directory, "/"-separated
    line: int
    col: int
    message: str
    query_id: str
    table: str
    columns: tuple[str, ...]
    suggestion: str
    sql: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


CheckFunction = Callable[[Analysis], Iterable[Problem]]


@dataclass(frozen=True, slots=True)
class Check:
    code: str  # "IDX001"
    name: str  # "unindexed-filter"
    summary: str  # one sentence
    message: str  # str.format template: {subject} {table} {columns} {suggestion} + details
    docs: str  # the check module's docstring: why it matters, and a link
    run: CheckFunction

    @property
    def docs_url(self) -> str:
        found = re.search(r"https?://\S+", self.docs)
        return found.group(0).rstrip(".,)>") if found else ""

    def format(self, problem: Problem, subject: str) -> str:
        return self.message.format(
            subject=subject,
            table=problem.table,
            columns=", ".join(problem.columns),
            suggestion=problem.suggestion,
            **dict(problem.details),
        )


CHECKS: dict[str, Check] = {}


def register(
    code: str, name: str, summary: str, message: str
) -> Callable[[CheckFunction], CheckFunction]:
    """Class-free registration: decorate a check function in its own module of this package.

    The module's docstring becomes the check's documentation.
    """

    def decorator(func: CheckFunction) -> CheckFunction:
        if code in CHECKS:
            raise RuntimeError(f"check code {code} registered twice")
        module = importlib.import_module(func.__module__)
        CHECKS[code] = Check(code, name, summary, message, (module.__doc__ or "").strip(), func)
        return func

    return decorator


def _import_checks() -> None:
    """Import every public module of this package, so each registers its check."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name != "output":
            importlib.import_module(f"{__name__}.{info.name}")


# --- Orchestration --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckRequest:
    files: tuple[Path, ...] = ()  # as given on the command line; empty: the whole project
    project_dir: Path | None = None
    settings: str | None = None
    workload_files: tuple[Path, ...] = ()
    ignore: tuple[str, ...] = ()  # on top of the configuration's
    cwd: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True, slots=True)
class CheckResult:
    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    files: tuple[Path, ...] = ()  # the files that were checked (absolute); empty: all
    suppressed: int = 0
    notes: tuple[str, ...] = ()  # for the user, not findings: "no querysets found in 3 files"


def check(request: CheckRequest) -> CheckResult:
    """Run the analysis for the named files and report what the checks find in them.

    Raises :class:`UsageError` for a missing file, an unknown check code or a project that
    cannot be loaded.
    """
    cwd = request.cwd.resolve()
    project_dir = (cwd / request.project_dir).resolve() if request.project_dir else None
    config = load_config(project_dir or cwd)
    ignore = _codes(config.ignore + request.ignore)
    files = _files(request.files, cwd, config)
    if request.files and not files:
        return CheckResult()  # every named file is excluded: nothing to set up Django for
    workload_files = tuple((cwd / w).resolve() for w in request.workload_files)
    for w in workload_files:
        if not w.is_file():
            raise UsageError(f"no such workload file: {w}")
    analysis = pipeline.run(
        pipeline.AnalysisRequest(
            project_dir=project_dir or _default_project_dir(config, cwd),
            settings=request.settings or config.settings,
            paths=files or None,
            workload_files=workload_files,
        )
    )
    problems = {
        code: tuple(c.run(analysis))
        for code, c in sorted(CHECKS.items())
        if code not in ignore
    }
    findings, suppressed = _place(analysis, problems, files, cwd, config, workload_files)
    return CheckResult(findings, analysis.skipped, files, suppressed, _notes(analysis, files))


def _notes(analysis: Analysis, files: tuple[Path, ...]) -> tuple[str, ...]:
    """Say so when the checked files hold no queryset: a clean result that checked nothing."""
    if analysis.workload.queries or any(s.kind == "query" for s in analysis.skipped):
        return ()
    if files:
        count = len(files)
    elif analysis.root is not None:
        from idxadvisor.sources.static.scan import iter_source_files

        count = sum(1 for _ in iter_source_files(analysis.root))
    else:
        count = 0
    parsed = count - sum(1 for s in analysis.skipped if s.kind == "file")
    if parsed <= 0:
        return ()  # every file failed to parse: IDX000 says so
    return (f"no querysets found in {parsed} file{'s' if parsed != 1 else ''}",)


def run_checks(
    analysis: Analysis, codes: Iterable[str] | None = None
) -> dict[str, tuple[Problem, ...]]:
    """Every registered check's problems on an analysis, by code (all checks when None)."""
    wanted = set(CHECKS) if codes is None else set(codes)
    return {code: tuple(c.run(analysis)) for code, c in sorted(CHECKS.items()) if code in wanted}


def findings_for(
    analysis: Analysis, cwd: Path | None = None, codes: Iterable[str] | None = None
) -> tuple[Finding, ...]:
    """The findings of an analysis for all its files, inline suppressions applied."""
    findings, _ = _place(
        analysis, run_checks(analysis, codes), (), (cwd or Path.cwd()).resolve(), Config(), ()
    )
    return findings


def _codes(codes: Iterable[str]) -> frozenset[str]:
    out = set()
    for raw in codes:
        for code in filter(None, (c.strip().upper() for c in raw.split(","))):
            if code not in CHECKS:
                raise UsageError(f"unknown check code {code} (known: {', '.join(sorted(CHECKS))})")
            out.add(code)
    return frozenset(out)


def _files(named: tuple[Path, ...], cwd: Path, config: Config) -> tuple[Path, ...]:
    """Named files as absolute paths: directories expanded to their ``*.py``, excludes dropped."""
    out: list[Path] = []
    for given in named:
        path = (cwd / given).resolve()
        if path.is_dir():
            out.extend(p for p in sorted(path.rglob("*.py")) if "__pycache__" not in p.parts)
        elif path.is_file():
            out.append(path)
        else:
            raise UsageError(f"no such file: {given}")
    return tuple(dict.fromkeys(p for p in out if not config.excludes(p)))


def _default_project_dir(config: Config, cwd: Path) -> Path | None:
    """The directory with manage.py: the current one, else the configuration's."""
    for candidate in (cwd, config.root):
        if candidate is not None and (candidate / "manage.py").is_file():
            return candidate
    return config.root


def _place(
    analysis: Analysis,
    problems: dict[str, tuple[Problem, ...]],
    files: tuple[Path, ...],
    cwd: Path,
    config: Config,
    workload_files: tuple[Path, ...],
) -> tuple[tuple[Finding, ...], int]:
    """Problems → findings at each origin of their query; suppressed and duplicate ones dropped.

    Two checks that suggest the same index for the same query and table report it once, under
    the lower code.
    """
    queries = analysis.workload.by_id()
    root = analysis.root or cwd
    wanted = set(files)
    sources = _SourceCache()
    seen: set[tuple] = set()
    findings: list[Finding] = []
    suppressed = 0
    for code, found in sorted(problems.items()):
        check_ = CHECKS[code]
        for problem in found:
            query = queries.get(problem.query_id)
            if problem.origin is not None:
                locations = [(_resolve(problem.origin, root), problem.origin)]
            elif query is not None:
                locations = list(_locations(query, root, workload_files))
            else:
                continue
            for path, origin in locations:
                if wanted and path not in wanted:
                    continue
                if config.excludes(path):
                    continue
                key = (path, origin.line, problem.query_id, problem.table, problem.suggestion)
                if key in seen:
                    continue
                seen.add(key)
                if code in sources.suppressed_codes(path, origin):
                    suppressed += 1
                    continue
                findings.append(
                    Finding(
                        code=code,
                        path=_display(path, cwd),
                        line=max(origin.line, 1),  # SARIF and editors count from 1
                        col=max(origin.col, 1),
                        message=check_.format(problem, subject(query) if query else ""),
                        query_id=problem.query_id,
                        table=problem.table,
                        columns=problem.columns,
                        suggestion=problem.suggestion,
                        sql=query.sql if query else "",
                    )
                )
    findings.sort(key=lambda f: (f.path, f.line, f.col, f.code, f.message))
    return tuple(findings), suppressed


def _locations(
    query: Query, root: Path, workload_files: tuple[Path, ...]
) -> Iterator[tuple[Path, Origin]]:
    if not query.origins:
        # A query from a workload file with no code location: point at the file itself.
        if workload_files:
            yield workload_files[0], Origin(str(workload_files[0]), 1, 1)
        return
    for origin in query.origins:
        yield _resolve(origin, root), origin


def _resolve(origin: Origin, root: Path) -> Path:
    path = Path(origin.path)
    return (path if path.is_absolute() else (root / path)).resolve()


def _display(path: Path, cwd: Path) -> str:
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, cwd)).as_posix()


# --- Subjects and suppression comments ---------------------------------------------------------


def subject(query: Query) -> str:
    """The queryset abbreviated to its first call: ``Model.objects.filter(...)``.

    >>> from idxadvisor.types.workload import Query
    >>> q = Query("q1", "", "", "static", code='Hook.objects.filter(a=1).order_by("b")[:10]')
    >>> subject(q)
    'Hook.objects.filter(...)'
    """
    code = (query.code or "").strip()
    try:
        node: ast.AST = ast.parse(code, mode="eval").body
    except SyntaxError:
        node = ast.Constant(None)
    innermost: ast.Call | None = None
    while True:
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                innermost = node
                node = node.func.value
                continue
            break
        if isinstance(node, ast.Subscript | ast.Attribute):
            node = node.value
            continue
        break
    if innermost is not None and isinstance(innermost.func, ast.Attribute):
        return f"{ast.unparse(innermost.func.value)}.{innermost.func.attr}(...)"
    model = (query.model or "").rpartition(".")[2]
    if model:
        return f"{model}.objects query"
    function = next((o.function for o in query.origins if o.function), "")
    return f"query in {function}()" if function else f"query {query.id}"


_IGNORE = re.compile(r"#\s*idxadvisor:\s*ignore\b(?:\[([^\]]*)\])?", re.IGNORECASE)
ALL = frozenset({"*"})


class _SourceCache:
    """Per file: its comments by line and the extent of each expression, read once."""

    def __init__(self) -> None:
        self._files: dict[Path, tuple[dict[int, str], dict[tuple[int, int], int]] | None] = {}

    def suppressed_codes(self, path: Path, origin: Origin) -> frozenset[str] | set[str]:
        """Codes an ``# idxadvisor: ignore[...]`` comment suppresses at this origin.

        The comment counts on the queryset's first line or on the last line of the expression
        that starts there; a bare ``# idxadvisor: ignore`` suppresses every code.
        """
        parsed = self._parse(path)
        if parsed is None:
            return frozenset()
        comments, ends = parsed
        last = ends.get((origin.line, max(origin.col, 1) - 1), origin.line)
        codes: set[str] = set()
        for line in {origin.line, last}:
            for match in _IGNORE.finditer(comments.get(line, "")):
                if match.group(1) is None:
                    return set(CHECKS)
                codes.update(c.strip().upper() for c in match.group(1).split(",") if c.strip())
        return codes

    def _parse(self, path: Path):
        if path not in self._files:
            self._files[path] = _read_source(path)
        return self._files[path]


def _read_source(path: Path) -> tuple[dict[int, str], dict[tuple[int, int], int]] | None:
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
    ends: dict[tuple[int, int], int] = {}
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return comments, ends
    for node in ast.walk(tree):
        if isinstance(node, ast.expr) and node.end_lineno is not None:
            key = (node.lineno, node.col_offset)
            ends[key] = max(ends.get(key, 0), node.end_lineno)
    return comments, ends


_import_checks()

__all__ = [
    "CHECKS",
    "Check",
    "CheckRequest",
    "CheckResult",
    "Finding",
    "Problem",
    "check",
    "findings_for",
    "register",
    "run_checks",
    "subject",
]
