"""The analysis pipeline, stage by stage; `analyze`, `generate` and `check` all start here.

capture → workload → access patterns → schema → advisor → what-if. Each stage is a module with
frozen dataclasses in and out; this module only wires them and never reaches back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from idxadvisor.advisor import advise
from idxadvisor.advisor.candidate import Advice
from idxadvisor.errors import UsageError
from idxadvisor.patterns import AccessPattern, analyse
from idxadvisor.project import DjangoProject, find_project, load_project
from idxadvisor.schema import Schema, from_models
from idxadvisor.workload import Skipped, Statement, Workload, build_workload


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    project_dir: Path | None = None  # None: the current directory, if it holds manage.py
    settings: str | None = None
    workload_files: tuple[Path, ...] = ()  # .sql files or capture files
    paths: tuple[Path, ...] | None = None  # only these source files (check); None: all
    static: bool = True  # scan the source for querysets
    database_url: str | None = None
    use_settings_db: bool = False
    from_pg_stat_statements: bool = False


@dataclass(frozen=True, slots=True)
class Analysis:
    request: AnalysisRequest
    root: Path | None  # project root, None for SQL-only runs
    statements: int  # as found, before deduplication
    workload: Workload
    patterns: tuple[AccessPattern, ...]
    schema: Schema
    advice: Advice

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        """Everything not analysed, from every stage, each with its reason."""
        return (*self.workload.skipped, *self.advice.skipped)


def run(request: AnalysisRequest) -> Analysis:
    """Run every stage for the request. Raises UsageError for bad input."""
    project = _project(request)
    statements: list[Statement] = []
    skipped: list[Skipped] = []
    if project is not None and request.static:
        from idxadvisor.capture.static import scan

        found = scan(project, list(request.paths) if request.paths is not None else None)
        statements += found.statements
        skipped += found.skipped
    for path in request.workload_files:
        found_statements, found_skipped = read_workload(path)
        statements += found_statements
        skipped += found_skipped

    workload = build_workload(statements, skipped)
    patterns, unparsed = analyse(workload)
    schema = from_models() if project is not None else Schema()
    patterns, unknown = _known_tables(patterns, schema, workload)
    workload = Workload(workload.queries, (*workload.skipped, *unparsed, *unknown))
    advice = advise(patterns, schema)
    return Analysis(
        request=request,
        root=project.root if project is not None else None,
        statements=len(statements) + len(skipped),
        workload=workload,
        patterns=patterns,
        schema=schema,
        advice=advice,
    )


def _known_tables(
    patterns: tuple[AccessPattern, ...], schema: Schema, workload: Workload
) -> tuple[tuple[AccessPattern, ...], tuple[Skipped, ...]]:
    """Drop the queries that touch a table the schema does not know, each with its reason.

    With no schema at all (SQL only, no database) every table is taken as it comes.
    """
    if not schema.tables:
        return patterns, ()
    unknown: dict[str, str] = {}
    for p in patterns:
        if p.table not in schema.tables:
            unknown.setdefault(p.query_id, p.table)
    queries = workload.by_id()
    skipped = tuple(
        Skipped(
            f"unknown table {table!r}: no model (or catalog) has it",
            origin=queries[qid].origins[0] if queries[qid].origins else None,
            sql=queries[qid].sql,
        )
        for qid, table in unknown.items()
    )
    return tuple(p for p in patterns if p.query_id not in unknown), skipped


def _project(request: AnalysisRequest) -> DjangoProject | None:
    """The Django project, or None for a run on SQL workloads alone."""
    if request.workload_files and not request.settings:
        return find_project(request.project_dir, None)
    return load_project(request.project_dir, request.settings)


def read_workload(path: Path) -> tuple[tuple[Statement, ...], tuple[Skipped, ...]]:
    """Statements of one workload file: a capture file (JSON lines) or a ``.sql`` file."""
    from idxadvisor.capture.workload_file import is_capture_file, read_workload_file

    if not path.is_file():
        raise UsageError(f"cannot read workload file {path}: no such file")
    if is_capture_file(path):
        return read_workload_file(path)
    from idxadvisor.capture.sqlfile import read_sql_files

    return read_sql_files([path])
