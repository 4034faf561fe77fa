"""The analysis pipeline, stage by stage; `analyze`, `generate` and `check` all start here.

capture → workload → access patterns → schema → advisor → what-if. Each stage is a module with
frozen dataclasses in and out; this module only wires them and never reaches back.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from idxadvisor.advisor import advise
from idxadvisor.config import Config
from idxadvisor.errors import UsageError
from idxadvisor.patterns.extractor import analyse
from idxadvisor.progress import progress
from idxadvisor.project import DjangoProject, find_project, load_project
from idxadvisor.schema.models import from_models
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.analysis import Analysis, AnalysisRequest, LiveChoice
from idxadvisor.types.schema import Schema
from idxadvisor.types.workload import Skipped, Statement, Workload
from idxadvisor.workload import build_workload

if TYPE_CHECKING:
    from idxadvisor.live.connection import ReadOnlyDatabase


def choose_live(
    *,
    database_url: str | None,
    url_from_environment: bool,
    use_settings_db: bool,
    config: Config,
    environ: Mapping[str, str] = os.environ,
) -> LiveChoice:
    """The database of a run: the command line first, then ``[tool.idxadvisor]``
    (``database_url_env`` / ``use_settings_db``), then a ``DATABASE_URL`` the caller read from
    the environment (``url_from_environment``: only ``analyze`` does; ``generate`` and
    ``verify`` never switch to live mode from the environment alone).

    >>> choose_live(database_url="postgresql://db/app", url_from_environment=True,
    ...             use_settings_db=False, config=Config(use_settings_db=True)).source
    '[tool.idxadvisor] use_settings_db'
    >>> choose_live(database_url=None, url_from_environment=False, use_settings_db=False,
    ...             config=Config(database_url_env="APP_DB"), environ={}).note
    '[tool.idxadvisor] database_url_env = "APP_DB" but APP_DB is not set: no database'
    """
    if database_url and not url_from_environment:
        return LiveChoice(database_url=database_url)
    if use_settings_db:
        return LiveChoice(use_settings_db=True, source="the Django settings' default database")
    if config.database_url_env:
        name = config.database_url_env
        value = environ.get(name, "").strip()
        if value:
            return LiveChoice(
                database_url=value, source=f"{name}, per [tool.idxadvisor] database_url_env"
            )
        if not database_url:
            return LiveChoice(
                note=f'[tool.idxadvisor] database_url_env = "{name}" but {name} '
                "is not set: no database"
            )
    if config.use_settings_db:
        return LiveChoice(use_settings_db=True, source="[tool.idxadvisor] use_settings_db")
    if database_url:
        return LiveChoice(database_url=database_url, source="DATABASE_URL")
    return LiveChoice()


def live_description(url: str, *, source: str = "", writes: str = "") -> str:
    """How a live run names its database: built from the URL's parsed parts (user, host, port,
    database), so no password can appear whatever the URL looks like.

    >>> live_description("postgresql://app:s3cret@db:5432/app", source="DATABASE_URL")
    'live mode: postgresql://app@db:5432/app (from DATABASE_URL), read-only'
    >>> live_description("host=db user=app password=x dbname=shop", writes="builds indexes")
    'live mode: postgresql://app@db:5432/shop, writes allowed: builds indexes'
    >>> live_description("postgresql://u:pw@[::1/x")
    'live mode: an unparsable database URL, read-only'
    """
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    from idxadvisor.live.connection import describe_target

    try:
        user = conninfo_to_dict(url).get("user")
    except ProgrammingError:
        shown = "an unparsable database URL"
    else:
        shown = f"postgresql://{f'{user}@' if user else ''}{describe_target(url)}"
    origin = f" (from {source})" if source else ""
    mode = f"writes allowed: {writes}" if writes else "read-only"
    return f"live mode: {shown}{origin}, {mode}"


def run(request: AnalysisRequest, on_live: Callable[[str], None] | None = None) -> Analysis:
    """Run every stage for the request. Raises UsageError for bad input.

    ``on_live`` gets the database URL before anything connects to it (the CLI announces it).
    """
    project = _project(request)
    url = database_url(request)
    if url is None:
        return _analyse(request, project, None)
    if on_live is not None:
        on_live(url)
    from idxadvisor.live.connection import connect_readonly

    with connect_readonly(url) as db:
        return _analyse(request, project, db)


def _analyse(
    request: AnalysisRequest, project: DjangoProject | None, db: ReadOnlyDatabase | None
) -> Analysis:
    # Every capture source yields statements and what it skipped, read as they come: a big
    # workload file costs its distinct shapes, never a list of all its statements.
    found: list[Iterable[Statement | Skipped]] = []
    if project is not None and request.static:
        from idxadvisor.sources.static.scan import scan

        result = scan(project, list(request.paths) if request.paths is not None else None)
        found.append((*result.statements, *result.skipped))
    # Code origins as the static scan gives them: relative to the project directory.
    root = (project.root if project is not None else request.project_dir or Path()).resolve()
    found += [iter_workload(path, root) for path in request.workload_files]
    if db is not None and request.from_pg_stat_statements:
        from idxadvisor.sources.pg_stat_statements import read_pg_stat_statements

        found.append(itertools.chain(*read_pg_stat_statements(db)))
    skipped: list[Skipped] = []
    read = 0

    def statements() -> Iterator[Statement]:
        nonlocal read
        with progress("reading statements") as bar:
            for item in itertools.chain.from_iterable(found):
                read += 1
                bar.advance()
                if isinstance(item, Skipped):
                    skipped.append(item)
                else:
                    yield item

    workload = build_workload(statements())
    workload = Workload(workload.queries, tuple(skipped))
    with progress("reading access patterns", total=len(workload.queries)) as bar:
        patterns, unparsed = analyse(workload, progress=bar)
    touched = {p.table for p in patterns}
    schema = from_models(tables=touched) if project is not None else Schema()
    if db is not None:
        from idxadvisor.schema.catalog import read_schema

        schema = schema.merged_with(read_schema(db))
    if project is not None or db is not None:
        patterns, unknown = _known_tables(patterns, schema, workload)
    else:
        unknown = ()  # SQL only, no database: every table is taken as it comes
    workload = Workload(workload.queries, (*workload.skipped, *unparsed, *unknown))
    if not request.include_test_queries:
        patterns, from_tests = _without_test_queries(patterns, workload)
        workload = Workload(workload.queries, (*workload.skipped, *from_tests))
    advice = advise(patterns, schema, queries=workload.by_id())
    if db is not None:
        from idxadvisor.live.refine import refine

        advice = refine(
            advice, workload, patterns, schema, db, max_index_bytes=request.max_index_bytes
        )
        from idxadvisor.live.removal import with_removals

        advice = with_removals(advice, workload.queries, db)
    return Analysis(
        request=request,
        root=project.root if project is not None else None,
        statements=read,
        workload=workload,
        patterns=patterns,
        schema=schema,
        advice=advice,
    )


def database_url(request: AnalysisRequest) -> str | None:
    """``--database-url``, else ``--use-settings-db`` (the Django settings' default database)."""
    if request.database_url:
        return request.database_url
    if request.use_settings_db:
        from django.conf import settings

        from idxadvisor.live.connection import database_url_from_settings

        if not settings.configured:
            raise UsageError("--use-settings-db needs a Django project (no settings found)")
        return database_url_from_settings(settings.DATABASES["default"])
    if request.from_pg_stat_statements:
        raise UsageError("--from-pg-stat-statements needs --database-url or --use-settings-db")
    return None


def _without_test_queries(
    patterns: tuple[AccessPattern, ...], workload: Workload
) -> tuple[tuple[AccessPattern, ...], tuple[Skipped, ...]]:
    """Drop the patterns of queries reached only from tests, fixtures or migrations
    (:attr:`~idxadvisor.types.workload.Query.only_from_tests`), each listed with the reason."""
    queries = workload.by_id()
    dropped = {p.query_id for p in patterns if queries[p.query_id].only_from_tests}
    skipped = tuple(
        Skipped(
            "reached only from tests, factories, fixtures or migrations: listed, not used "
            "for proposals (--include-test-queries uses it)",
            q.origins[0],
            q.sql,
        )
        for q in workload.queries
        if q.id in dropped
    )
    return tuple(p for p in patterns if p.query_id not in dropped), skipped


def _known_tables(
    patterns: tuple[AccessPattern, ...], schema: Schema, workload: Workload
) -> tuple[tuple[AccessPattern, ...], tuple[Skipped, ...]]:
    """Drop the queries that touch a table the schema does not know, each with its reason."""
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
    if (request.workload_files or request.from_pg_stat_statements) and not request.settings:
        return find_project(request.project_dir, None)
    return load_project(request.project_dir, request.settings)


def read_workload(
    path: Path, root: Path | None = None
) -> tuple[tuple[Statement, ...], tuple[Skipped, ...]]:
    """Statements of one workload file: a capture file (JSON lines) or a ``.sql`` file; a
    capture's code origins relative to ``root`` (the project directory) when given."""
    from idxadvisor.sources.capture.workload_file import is_capture_file, read_workload_file

    if not path.is_file():
        raise UsageError(f"cannot read workload file {path}: no such file")
    if is_capture_file(path):
        return read_workload_file(path, root=root)
    from idxadvisor.sources.sqlfile import read_sql_files

    return read_sql_files([path])


def iter_workload(path: Path, root: Path | None = None) -> Iterator[Statement | Skipped]:
    """:func:`read_workload` item by item (a ``.sql`` file is split as it is read)."""
    from idxadvisor.sources.capture.workload_file import is_capture_file
    from idxadvisor.sources.sqlfile import iter_sql_files

    if not path.is_file() or is_capture_file(path):
        yield from itertools.chain(*read_workload(path, root))  # a missing file: usage error
        return

    yield from iter_sql_files([path])
