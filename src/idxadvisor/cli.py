"""The command line: parses options and calls the pipeline stages. No logic of its own."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from idxadvisor import __version__
from idxadvisor.errors import EXIT_FINDINGS, EXIT_INTERNAL, UsageError, exit_status_help
from idxadvisor.report import get as report_format
from idxadvisor.report import names as report_formats

_TRACEBACK_LINES = 120  # --debug: a RecursionError's thousands of frames, cut to head and tail
_MESSAGE_CHARS = 300


class _Group(click.Group):
    """Bad input → one line and exit 2; a bug → one line and exit 3 (the traceback only with
    ``--debug`` / ``IDXADVISOR_DEBUG=1``). Click's own usage errors keep their exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            click.echo(f"idxadvisor: error: {_one_line(exc, limit=None)}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            debug = bool(ctx.params.get("debug")) or _debug_from_environment()
            if debug:
                click.echo(_bounded_traceback(exc), err=True, nl=False)
            hint = "" if debug else " (rerun with --debug for the traceback)"
            click.echo(
                f"idxadvisor: internal error: {type(exc).__name__}: {_one_line(exc)}{hint}",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)


def _debug_from_environment() -> bool:
    return os.environ.get("IDXADVISOR_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _one_line(exc: BaseException, limit: int | None = _MESSAGE_CHARS) -> str:
    """The exception's message on one line (cut to ``limit`` characters: a bug's message can be
    huge), with any database password redacted."""
    from idxadvisor.live.connection import redact

    text = redact(" ".join(str(exc).split()))
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def _bounded_traceback(exc: BaseException) -> str:
    """The traceback, its middle cut when long (deep recursion), passwords redacted."""
    from idxadvisor.live.connection import redact

    lines = "".join(traceback.format_exception(exc)).splitlines(keepends=True)
    if len(lines) > _TRACEBACK_LINES:
        head, tail = _TRACEBACK_LINES // 3, _TRACEBACK_LINES - _TRACEBACK_LINES // 3
        omitted = len(lines) - head - tail
        lines = [*lines[:head], f"  … {omitted} lines left out …\n", *lines[-tail:]]
    return "".join(redact(line) for line in lines)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=exit_status_help(
        "check: something flagged; analyze: an index proposed, with --fail-on-recommendations"
    ),
)
@click.version_option(__version__, prog_name="idxadvisor")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the traceback of an internal error (also IDXADVISOR_DEBUG=1).",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="No progress bars on stderr (they show only on a terminal, after a second).",
)
def main(debug: bool, quiet: bool) -> None:
    """Index advice for Django projects on PostgreSQL.

    \b
    Typical flow:
      idxadvisor analyze .              # what indexes would pay off, and why
      idxadvisor generate .             # write AddIndexConcurrently migrations
      idxadvisor check app/views.py     # pre-commit: flag unindexed filters

    \b
    Live mode (a database) is announced on the first line of stderr. analyze reads
    --database-url, --use-settings-db, [tool.idxadvisor] database_url_env or
    use_settings_db, else DATABASE_URL; generate never uses DATABASE_URL unless
    [tool.idxadvisor] opts in; verify only uses the command line.
    """
    from idxadvisor.progress import set_quiet

    set_quiet(quiet)
    _check_compiled_sqlglot()


def _check_compiled_sqlglot() -> None:
    """sqlglotc's compiled modules sit beside sqlglot's own files and win over them: of another
    version (``pip install -U sqlglot`` after ``idxadvisor[fast]``), sqlglot fails to import,
    so say so before anything imports it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        compiled = version("sqlglotc")
    except PackageNotFoundError:
        return
    plain = version("sqlglot")
    if compiled != plain:
        raise UsageError(
            f"sqlglotc {compiled} does not match sqlglot {plain}, and its compiled modules "
            f"would shadow sqlglot's: pip install 'sqlglot=={compiled}' (or "
            f"'sqlglotc=={plain}' when it exists), or pip uninstall sqlglotc"
        )


def _remember(ctx: click.Context, param: click.Parameter, value):
    """Keep a live-database option in the context for :func:`_request`."""
    ctx.meta[f"idxadvisor.{param.name}"] = value
    return value


def _byte_size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``--max-index-bytes``: a size (``500MB``), kept in the context like the database."""
    from idxadvisor.live.selection import parse_byte_size

    if value is None:
        return None
    try:
        size = parse_byte_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return _remember(ctx, param, size)


def _analysis_options(
    f: Callable[..., Any] | None = None, *, url_from_environment: bool = False
) -> Any:
    """Options shared by analyze, generate and verify: where the queries and the schema come
    from. Only analyze (``url_from_environment``) reads ``--database-url`` from DATABASE_URL."""
    if f is None:
        return lambda g: _analysis_options(g, url_from_environment=url_from_environment)
    url_help = (
        "Use this PostgreSQL database (read-only): catalog indexes, pg_stats, HypoPG what-if "
        "costs." + (" Also read from DATABASE_URL." if url_from_environment else "")
    )
    options = [
        click.argument("project_dir", required=False, type=click.Path(path_type=Path)),
        click.option(
            "--settings",
            metavar="MODULE",
            help="Django settings module (default: read from PROJECT_DIR/manage.py).",
        ),
        click.option(
            "--workload",
            "workload_files",
            multiple=True,
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="A .sql file (statements separated by ';', %s or $1 placeholders) or "
            "a capture file from `idxadvisor capture`. Repeatable. With no "
            "Django project, the analysis runs on the SQL alone.",
        ),
        click.option(
            "--no-static",
            is_flag=True,
            help="Do not scan the source for querysets; use only --workload files.",
        ),
        click.option(
            "--database-url",
            envvar="DATABASE_URL" if url_from_environment else None,
            metavar="URL",
            expose_value=False,
            callback=_remember,
            help=url_help,
        ),
        click.option(
            "--use-settings-db",
            is_flag=True,
            expose_value=False,
            callback=_remember,
            help="Use the Django settings' default database, read-only.",
        ),
        click.option(
            "--from-pg-stat-statements",
            is_flag=True,
            expose_value=False,
            callback=_remember,
            help="Add the database's pg_stat_statements queries to the workload, "
            "weighted by total time.",
        ),
        click.option(
            "--include-test-queries",
            is_flag=True,
            expose_value=False,
            callback=_remember,
            help="Let queries reached only from tests, factories, fixtures or "
            "migrations drive proposals too (by default they are listed only).",
        ),
        click.option(
            "--max-index-bytes",
            metavar="SIZE",
            expose_value=False,
            callback=_byte_size,
            help="With a database: propose at most this much index, by estimated "
            "size (500MB, 2GiB; PostgreSQL's units, powers of 1024). The ones "
            "left out are listed with the reason.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _request(
    project_dir: Path | None,
    settings: str | None,
    workload_files: tuple[Path, ...],
    no_static: bool,
    *,
    config_opt_in: bool = True,
):
    """The pipeline request; the database from :func:`idxadvisor.pipeline.choose_live`
    (``config_opt_in`` False: the command line only, for verify)."""
    from idxadvisor.config import Config, load_config
    from idxadvisor.pipeline import choose_live
    from idxadvisor.types.analysis import AnalysisRequest

    ctx = click.get_current_context()
    meta = ctx.meta
    url = meta.get("idxadvisor.database_url") or None
    from_env = ctx.get_parameter_source("database_url") is ParameterSource.ENVIRONMENT
    config = load_config(project_dir) if config_opt_in else Config()
    choice = choose_live(
        database_url=url,
        url_from_environment=from_env,
        use_settings_db=bool(meta.get("idxadvisor.use_settings_db")),
        config=config,
    )
    if choice.note:
        click.echo(f"idxadvisor: note: {choice.note}", err=True)
    return AnalysisRequest(
        project_dir=project_dir,
        settings=settings,
        workload_files=tuple(workload_files),
        static=not no_static,
        database_url=choice.database_url,
        use_settings_db=choice.use_settings_db,
        from_pg_stat_statements=bool(meta.get("idxadvisor.from_pg_stat_statements")),
        database_source=choice.source,
        max_index_bytes=meta.get("idxadvisor.max_index_bytes"),
        include_test_queries=bool(meta.get("idxadvisor.include_test_queries")),
    )


def _announce(request: Any, writes: str = "") -> Callable[[str], None]:
    """Print the live-mode line (first on stderr) once the pipeline knows the database."""
    from idxadvisor.pipeline import live_description

    def announce(url: str) -> None:
        shown = live_description(url, source=request.database_source, writes=writes)
        click.echo(f"idxadvisor: {shown}", err=True)

    return announce


@main.command("analyze", epilog=exit_status_help("--fail-on-recommendations and an index proposed"))
@_analysis_options(url_from_environment=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(report_formats("analyze")),
    default=report_formats("analyze")[0],
    show_default=True,
    help="A report for people, or stable JSON.",
)
@click.option(
    "--output",
    "-o",
    "output_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Write the report to FILE (atomically) instead of stdout.",
)
@click.option(
    "--fail-on-recommendations", is_flag=True, help="Exit 1 when any index is proposed (for CI)."
)
def analyze_command(
    project_dir,
    settings,
    workload_files,
    no_static,
    output_format,
    output_file,
    fail_on_recommendations,
) -> None:
    """Propose the indexes that would serve a Django project's queries.

    \b
    Finds querysets in PROJECT_DIR (default: the current directory) without a
    database, compiles them to SQL through Django, reads their WHERE / JOIN /
    ORDER BY / LIMIT and compares them with the indexes the models declare.
    Each proposal names the queries it serves (path:line), why, and its cost.
    With a database (read-only) it adds the live catalog, pg_stats and HypoPG
    what-if costs.

    \b
    Examples:
      idxadvisor analyze examples/alerting
      idxadvisor analyze . --format json -o report.json
      idxadvisor analyze --workload slow.sql            # SQL only, no project
      idxadvisor analyze . --workload idxadvisor-workload.jsonl
      idxadvisor analyze . --database-url postgresql://app@db/app   # read-only

    The database comes from --database-url, --use-settings-db, [tool.idxadvisor]
    database_url_env / use_settings_db, else DATABASE_URL; a live run says so on
    the first line of stderr (never with the password).
    """
    from idxadvisor.pipeline import run

    request = _request(project_dir, settings, workload_files, no_static)
    analysis = run(request, on_live=_announce(request))
    report_format("analyze", output_format).emit(analysis, output_file)
    if fail_on_recommendations and analysis.advice.recommendations:
        sys.exit(EXIT_FINDINGS)


@main.command("check", epilog=exit_status_help("something is flagged"))
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--project",
    "project_dir",
    type=click.Path(path_type=Path),
    help="Django project directory (default: the current one, or the pyproject.toml's).",
)
@click.option(
    "--settings", help="Django settings module (default: [tool.idxadvisor] or manage.py)."
)
@click.option(
    "--workload",
    "workload_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A captured workload file to check as well (repeatable).",
)
@click.option(
    "--format",
    "output_format",
    default=report_formats("check")[0],
    show_default=True,
    type=click.Choice(report_formats("check")),
)
@click.option(
    "--output",
    "-o",
    "output_file",
    type=click.Path(path_type=Path),
    help="Write the report to this file instead of stdout.",
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="CODES",
    help="Check codes not to report, comma-separated (adds to [tool.idxadvisor] ignore).",
)
@click.option(
    "--baseline",
    "baseline",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Report only findings not in this baseline (default: [tool.idxadvisor] baseline).",
)
@click.option(
    "--write-baseline",
    "write_baseline",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Record the current findings as the baseline and exit 0.",
)
@click.option("--list-checks", is_flag=True, help="List the checks and exit.")
@click.option("--explain", metavar="CODE", help="Print a check's documentation and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Also print querysets that were skipped.")
@click.option(
    "--include-test-queries",
    is_flag=True,
    help="Also flag queries reached only from tests, factories, fixtures or "
    "migrations (by default they drive no proposal).",
)
def check_command(
    files: tuple[Path, ...],
    project_dir: Path | None,
    settings: str | None,
    workload_files: tuple[Path, ...],
    output_format: str,
    output_file: Path | None,
    ignore: tuple[str, ...],
    baseline: Path | None,
    write_baseline: Path | None,
    list_checks: bool,
    explain: str | None,
    verbose: bool,
    include_test_queries: bool,
) -> None:
    """Flag querysets in FILES (default: the whole project) that no index serves.

    Silence one line with a comment `# idxadvisor: ignore[IDX001]`.
    """
    from idxadvisor import checks
    from idxadvisor.checks import CHECKS, CheckRequest
    from idxadvisor.report.findings import stderr_lines

    if list_checks:
        for code, c in sorted(CHECKS.items()):
            click.echo(f"{code}  {c.name:<24} {c.summary}")
        return
    if explain:
        found = CHECKS.get(explain.strip().upper())
        if found is None:
            raise UsageError(f"unknown check code {explain} (known: {', '.join(sorted(CHECKS))})")
        click.echo(found.docs)
        return
    plan = checks.plan(
        CheckRequest(
            files=files,
            project_dir=project_dir,
            settings=settings,
            workload_files=workload_files,
            ignore=ignore,
            baseline=baseline,
            use_baseline=write_baseline is None,
            include_test_queries=include_test_queries,
        )
    )
    if plan.analysis_request is None:
        analysis = None  # every named file is excluded: nothing to set up Django for
    else:
        from idxadvisor.pipeline import run

        analysis = run(plan.analysis_request)
    result = checks.run(analysis, plan)
    if write_baseline is not None:
        count = checks.write_baseline(result, write_baseline, plan)
        click.echo(
            f"idxadvisor: wrote {count} finding(s) to the baseline {write_baseline}", err=True
        )
        return
    report_format("check", output_format).emit(result, output_file)
    for line in stderr_lines(result, output_format, verbose):
        click.echo(line, err=True)
    if result.findings:
        sys.exit(EXIT_FINDINGS)


@main.command(
    "capture",
    options_metavar="[OPTIONS] --",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog="\b\nExit status: COMMAND's own; 2 on bad input; 3 on an internal error.",
)
@click.option(
    "--output",
    "-o",
    default="idxadvisor-workload.jsonl",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Workload file to write (JSON Lines). An existing capture file is replaced.",
)
@click.option(
    "--append", is_flag=True, help="Add to an existing capture file instead of replacing it."
)
@click.option(
    "--include-django",
    is_flag=True,
    help="Also record Django's own bookkeeping: migrations and data migrations run "
    "while the test database is set up, catalog introspection, "
    "django_migrations (left out by default; also "
    "IDXADVISOR_CAPTURE_INCLUDE_DJANGO=1).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def capture_command(
    output: Path, append: bool, include_django: bool, command: tuple[str, ...]
) -> None:
    """Run COMMAND and record every SQL statement Django executes in it.

    \b
    Examples:
      idxadvisor capture -- python manage.py test
      idxadvisor capture -o ci.jsonl -- pytest -n 4
      idxadvisor capture --append -- python manage.py send_digests

    Nothing in the project changes: every Python process of COMMAND (forked or
    spawned workers too) records each statement's SQL with placeholders, calls,
    time and origin (the line of your code that ran the queryset: the view, not
    the middleware or the test client). No parameter values are written, only
    constants that appear literally in your code and the shape of each LIKE
    pattern (exact, prefix, infix, suffix). Migrations and Django's bookkeeping
    are left out unless --include-django. Signals reach the whole command, and
    if capture itself is killed the command's process group is ended too.
    Exits with COMMAND's exit code. Then: idxadvisor analyze --workload FILE.
    """
    from idxadvisor.sources.capture.launcher import run_capture

    run = run_capture(
        command, output, append=append, include_django=True if include_django else None
    )
    click.echo(f"idxadvisor capture: {run.summary} -> {output}", err=True)
    for warning in run.warnings:
        click.echo(f"idxadvisor capture: warning: {warning}", err=True)
    if run.summary.statements == 0:
        click.echo(
            "idxadvisor capture: no queries recorded: is COMMAND a Python program that "
            "uses Django (and not started with python -I/-S/-E)?",
            err=True,
        )
    sys.exit(run.exit_code)


@main.command("generate", epilog=exit_status_help())
@_analysis_options
@click.option(
    "--app",
    "apps_filter",
    multiple=True,
    metavar="LABEL",
    help="Only this app's migration (repeatable).",
)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Only the recommended index with this name (repeatable).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the migrations and a diff of the models; write nothing."
)
@click.option(
    "--drop-redundant",
    is_flag=True,
    help="Also drop redundant Meta.indexes (RemoveIndexConcurrently).",
)
@click.option(
    "--include-possible",
    is_flag=True,
    help="Also write the proposals ranked 'possible' (weak evidence); by default only the "
    "strong ones are written.",
)
@click.option(
    "--partitioned",
    "partitioned",
    multiple=True,
    metavar="TABLE",
    help="This table is partitioned (repeatable; also [tool.idxadvisor] partitioned, "
    "and read from the catalog in live mode): its indexes are built per "
    "partition, then attached.",
)
def generate_command(
    project_dir,
    settings,
    workload_files,
    no_static,
    apps_filter: tuple[str, ...],
    only: tuple[str, ...],
    dry_run: bool,
    drop_redundant: bool,
    include_possible: bool = False,
    partitioned: tuple[str, ...] = (),
) -> None:
    """Write one AddIndexConcurrently migration per app and add the indexes to Meta.indexes.

    \b
    Afterwards `makemigrations --check` finds no change, `migrate` builds every index
    without blocking writes, and running generate again writes nothing. Each operation
    carries a comment: the queries it serves (path:line) and why. On any failure no
    file changes.

    \b
    Examples:
      idxadvisor generate . --dry-run
      idxadvisor generate . --app monitoring --only monitoring_organis_1a2b3c_idx

    \b
    Writes only inside PROJECT_DIR: a model of an installed package (django.contrib.auth,
    say) or of an app outside the project is skipped, with what to add by hand. No
    database unless --database-url, --use-settings-db or [tool.idxadvisor]
    database_url_env / use_settings_db asks for one: DATABASE_URL alone never does.
    """
    from idxadvisor.config import load_config
    from idxadvisor.generate.plan import plan_migrations, write_plan
    from idxadvisor.pipeline import run

    request = _request(project_dir, settings, workload_files, no_static)
    analysis = run(request, on_live=_announce(request))
    if analysis.root is None:
        raise UsageError("generate needs a Django project (manage.py or --settings)")
    plan = plan_migrations(
        analysis.advice.recommendations,
        analysis.advice.redundant,
        queries=analysis.workload.by_id(),
        apps_filter=apps_filter,
        only=only,
        drop_redundant=drop_redundant,
        include_possible=include_possible,
        root=analysis.root,
        partitioned={
            *partitioned,
            *load_config(project_dir).partitioned,
            *(t.name for t in analysis.schema.tables.values() if t.partitioned),
        },
    )
    result = write_plan(plan, dry_run=dry_run)
    if dry_run and result.preview:
        click.echo(result.preview, nl=False)
    for m in plan.migrations:
        verb = "would write" if dry_run else "wrote"
        click.echo(f"idxadvisor: {verb} {_shown(m.file.path, analysis.root)}", err=True)
        for line in m.operations:
            click.echo(f"  {line}", err=True)
    for edit in plan.model_edits:
        verb = "would edit" if dry_run else "edited"
        click.echo(f"idxadvisor: {verb} {_shown(edit.path, analysis.root)}", err=True)
    for s in plan.skipped:
        click.echo(f"idxadvisor: skipped {s.name}: {s.reason}", err=True)
        if s.add_by_hand:
            click.echo(f"  by hand: {s.add_by_hand}", err=True)
    for note in plan.notes:
        click.echo(f"idxadvisor: note: {note}", err=True)
    if plan.empty:
        click.echo("idxadvisor: nothing to generate", err=True)
    elif not dry_run:
        click.echo("idxadvisor: next: python manage.py migrate", err=True)


def _shown(path: Path, root: Path | None) -> str:
    from idxadvisor.files import display_path

    return display_path(path, root) if root is not None else str(path)


@main.command("verify", epilog=exit_status_help())
@_analysis_options
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Required: verify builds indexes in the database (use a staging copy).",
)
@click.option("--keep", is_flag=True, help="Leave the indexes in place (default: drop them).")
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(1, 50),
    help="EXPLAIN ANALYZE runs per query and side; the median is reported.",
)
def verify_command(
    project_dir, settings, workload_files, no_static, allow_writes, keep, runs
) -> None:
    """Prove the recommendations on a real database: timings before and after.

    \b
    Builds each recommended index CONCURRENTLY in the database given by
    --database-url (a staging copy you allow to change), runs EXPLAIN (ANALYZE,
    BUFFERS) on every query it serves before and after, and drops the indexes
    again unless --keep. Only SELECTs are executed; anything else gets a plain
    EXPLAIN inside a rolled-back transaction.

    \b
    Example:
      idxadvisor verify . --database-url postgresql://staging/app --allow-writes

    The database comes from the command line only (never DATABASE_URL).
    """
    from idxadvisor.live.verify import verify
    from idxadvisor.pipeline import run

    request = _request(project_dir, settings, workload_files, no_static, config_opt_in=False)
    if not allow_writes:
        raise UsageError(
            "verify builds indexes in the database: pass --allow-writes to confirm "
            "it is a copy you allow to change"
        )
    if not request.database_url and not request.use_settings_db:
        raise UsageError("verify needs a database: --database-url URL or --use-settings-db")
    writes = "builds indexes (kept: --keep)" if keep else "builds and drops indexes"
    analysis = run(request, on_live=_announce(request, writes=writes))
    recs = analysis.advice.recommendations
    if not recs:
        click.echo("Nothing to verify: no index is proposed.")
        return
    served = {q for r in recs for q in r.serves}
    queries = [q for q in analysis.workload.queries if q.id in served]
    from idxadvisor.pipeline import database_url

    url = database_url(request)
    assert url is not None  # --database-url or --use-settings-db, checked above
    report = verify(url, recs, queries, keep=keep, runs=runs)
    click.echo(report.render())
