"""Running the checks: plan what to analyse, then turn the analysis into findings.

The CLI runs the pipeline between the two steps (``checks`` is an output stage and does not
import :mod:`idxadvisor.pipeline`)::

    plan = checks.plan(CheckRequest(files=...))
    analysis = pipeline.run(plan.analysis_request) if plan.analysis_request else None
    result = checks.run(analysis, plan)

Each problem becomes one :class:`Finding` per place in the code its query runs, named by the
call at that place; inline comments, the configuration and a baseline then drop what they
suppress.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from idxadvisor.checks.proposals import proposals
from idxadvisor.checks.registry import CHECKS, Check, CheckContext, Problem
from idxadvisor.checks.source import SourceCache, abbreviate
from idxadvisor.checks.suppression import (
    BaselineEntry,
    accept,
    baseline_rows,
    codes,
    dumps_baseline,
    inline_codes,
    is_baseline,
    read_baseline,
)
from idxadvisor.config import Config, load_config
from idxadvisor.errors import UsageError
from idxadvisor.files import write_atomic, write_refusal
from idxadvisor.types.analysis import Analysis, AnalysisRequest
from idxadvisor.types.workload import Origin, Query, Skipped


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
    baseline: BaselineEntry | None = None  # how a baseline knows it (None: never baselined)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


@dataclass(frozen=True, slots=True)
class CheckRequest:
    files: tuple[Path, ...] = ()  # as given on the command line; empty: the whole project
    project_dir: Path | None = None
    settings: str | None = None
    workload_files: tuple[Path, ...] = ()
    ignore: tuple[str, ...] = ()  # on top of the configuration's
    baseline: Path | None = None  # --baseline, relative to cwd; else the configuration's
    use_baseline: bool = True  # False while writing one
    cwd: Path = field(default_factory=Path.cwd)
    include_test_queries: bool = False  # as analyze's --include-test-queries


@dataclass(frozen=True, slots=True)
class CheckPlan:
    request: CheckRequest
    cwd: Path
    config: Config
    ignore: frozenset[str]
    files: tuple[Path, ...]  # absolute; empty: the whole project
    workload_files: tuple[Path, ...]
    baseline: Path | None
    analysis_request: AnalysisRequest | None  # None: nothing to analyse


@dataclass(frozen=True, slots=True)
class CheckResult:
    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    files: tuple[Path, ...] = ()  # the files that were checked (absolute); empty: all
    suppressed: int = 0  # by inline comments
    baselined: int = 0  # accepted by the baseline
    notes: tuple[str, ...] = ()  # for the user, not findings: "no querysets found in 3 files"
    root: Path | None = None  # the project root baseline paths are relative to


def plan(request: CheckRequest) -> CheckPlan:
    """Validate the request and say what to analyse. Raises :class:`UsageError` for a missing
    file, an unknown check code or an unreadable baseline."""
    cwd = request.cwd.resolve()
    project_dir = (cwd / request.project_dir).resolve() if request.project_dir else None
    config = load_config(project_dir or cwd)
    ignore = codes(config.ignore + request.ignore)
    files = _files(request.files, cwd, config)
    workload_files = tuple((cwd / w).resolve() for w in request.workload_files)
    for w in workload_files:
        if not w.is_file():
            raise UsageError(f"no such workload file: {w}")
    baseline = None
    if request.use_baseline:
        configured = config.baseline  # [tool.idxadvisor] baseline
        if request.baseline is not None:
            baseline = (cwd / request.baseline).resolve()
        elif configured and config.root is not None:
            baseline = (config.root / configured).resolve()
        if baseline is not None:
            read_baseline(baseline)  # a bad baseline is bad input, before Django starts
    analysis_request = None
    if not (request.files and not files):  # every named file excluded: nothing to set up
        analysis_request = AnalysisRequest(
            project_dir=project_dir or _default_project_dir(config, cwd),
            settings=request.settings or config.settings,
            paths=files or None,
            workload_files=workload_files,
            include_test_queries=request.include_test_queries,
        )
    return CheckPlan(
        request, cwd, config, ignore, files, workload_files, baseline, analysis_request
    )


def run(analysis: Analysis | None, plan: CheckPlan) -> CheckResult:
    """The findings of the plan's checks on the analysis the pipeline made for it."""
    if analysis is None:
        return CheckResult()
    problems = run_checks(analysis, set(CHECKS) - plan.ignore)
    root = analysis.root or plan.cwd
    findings, suppressed = place(
        analysis, problems, plan.files, plan.cwd, plan.config, plan.workload_files
    )
    baselined = 0
    if plan.baseline is not None:
        accepted = read_baseline(plan.baseline)
        kept, baselined = accept(
            ((f.baseline.fingerprint if f.baseline else "", f) for f in findings), accepted
        )
        findings = tuple(kept)
    return CheckResult(
        findings,
        analysis.skipped,
        plan.files,
        suppressed,
        baselined,
        _notes(analysis, plan.files),
        root,
    )


def write_baseline(result: CheckResult, path: Path, plan: CheckPlan) -> int:
    """Write the result's findings as a baseline at ``path`` (relative to cwd); returns how
    many entries it holds. A run on some files keeps an existing baseline's entries for the
    others. IDX000 is never baselined."""
    target = (plan.cwd / path).resolve()
    refusal = write_refusal(target, result.root or plan.cwd)
    if refusal is not None:
        raise UsageError(f"refusing to write the baseline {path}: {refusal}")
    entries = [f.baseline for f in result.findings if f.baseline is not None]
    keep: list[dict] = []
    if plan.files and target.is_file() and is_baseline(target.read_text(encoding="utf-8")):
        root = result.root or plan.cwd
        checked = {_display(p, root) for p in plan.files}
        keep = [r for r in baseline_rows(target) if r.get("path") not in checked]
    text = dumps_baseline(entries, keep)
    write_atomic(target, text, ours=is_baseline)
    return len(entries) + sum(int(r.get("count", 1)) for r in keep)


def run_checks(
    analysis: Analysis, wanted: Iterable[str] | None = None
) -> dict[str, tuple[Problem, ...]]:
    """Every wanted check's problems, by code (all when None).

    Checks see the proposals first; a fallback check sees only those no check claimed, so
    each proposal is reported once. Suppressed codes still claim theirs: ignoring IDX003 must
    not turn its findings into IDX001s.
    """
    wanted = set(CHECKS) if wanted is None else set(wanted)
    context = CheckContext(analysis, proposals(analysis))
    found: dict[str, tuple[Problem, ...]] = {}
    claimed: set[tuple[str, str, str]] = set()
    ordered: list[Check] = sorted(CHECKS.values(), key=lambda c: (c.fallback, c.code))
    for check in ordered:
        if check.fallback:
            rest = tuple(p for p in context.proposals if p.key not in claimed)
            problems = tuple(check.run(CheckContext(analysis, rest)))
        else:
            problems = tuple(
                p for p in check.run(context) if p.proposal is None or p.proposal.key not in claimed
            )
        claimed.update(p.proposal.key for p in problems if p.proposal is not None)
        if check.code in wanted:
            found[check.code] = problems
    return dict(sorted(found.items()))


def findings_for(
    analysis: Analysis, cwd: Path | None = None, codes: Iterable[str] | None = None
) -> tuple[Finding, ...]:
    """The findings of an analysis for all its files, inline suppressions applied."""
    found, _ = place(
        analysis, run_checks(analysis, codes), (), (cwd or Path.cwd()).resolve(), Config(), ()
    )
    return found


def place(
    analysis: Analysis,
    problems: dict[str, tuple[Problem, ...]],
    files: tuple[Path, ...],
    cwd: Path,
    config: Config,
    workload_files: tuple[Path, ...],
) -> tuple[tuple[Finding, ...], int]:
    """Problems → findings at each place their query runs; returns them and how many an
    inline comment suppressed."""
    root = analysis.root or cwd
    wanted = set(files)
    sources = SourceCache()
    seen: set[tuple] = set()
    findings: list[Finding] = []
    suppressed = 0
    for code, found in sorted(problems.items()):
        check = CHECKS[code]
        for problem in found:
            query = problem.proposal.query if problem.proposal else None
            if problem.origin is not None:
                locations = [(_resolve(problem.origin, root), problem.origin)]
            elif query is not None:
                locations = list(_locations(query, root, workload_files))
            else:
                continue
            for path, origin in locations:
                if (wanted and path not in wanted) or config.excludes(path):
                    continue
                key = (
                    path,
                    origin.line,
                    code,
                    problem.table,
                    problem.suggestion,
                    query.id if query else "",
                )
                if key in seen:
                    continue
                seen.add(key)
                source = sources.get(path)
                if code in inline_codes(source, origin.line, origin.col):
                    suppressed += 1
                    continue
                called = source.call_at(origin.line, origin.col) if source else None
                entry = None
                if query is not None:
                    scope = source.scope(origin.line) if source else (origin.function or "<module>")
                    entry = BaselineEntry(
                        code, _display(path, root), scope, problem.table, query.fingerprint
                    )
                findings.append(
                    Finding(
                        code=code,
                        path=_display(path, cwd),
                        line=max(origin.line, 1),  # SARIF and editors count from 1
                        col=max(origin.col, 1),
                        message=check.format(problem, called or (subject(query) if query else "")),
                        query_id=query.id if query else "",
                        table=problem.table,
                        columns=problem.columns,
                        suggestion=problem.suggestion,
                        sql=query.sql if query else "",
                        baseline=entry,
                    )
                )
    findings.sort(key=lambda f: (f.path, f.line, f.col, f.code, f.message))
    return tuple(findings), suppressed


def subject(query: Query) -> str:
    """The queryset abbreviated to its first call: ``Model.objects.filter(...)`` — for a place
    whose source cannot be read.

    >>> q = Query("q1", "", "", "static", code='Hook.objects.filter(a=1).order_by("b")[:10]')
    >>> subject(q)
    'Hook.objects.filter(...)'
    """
    try:
        node = ast.parse((query.code or "").strip(), mode="eval").body
    except SyntaxError:
        node = None
    if node is not None:
        short = abbreviate(node)
        if short.endswith("(...)"):
            return short
    model = (query.model or "").rpartition(".")[2]
    if model:
        return f"{model}.objects query"
    function = next((o.function for o in query.origins if o.function), "")
    return f"query in {function}()" if function else f"query {query.id}"


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


def _display(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, base)).as_posix()
