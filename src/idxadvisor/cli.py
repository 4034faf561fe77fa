"""The command line: parses options and calls the pipeline stages. No logic of its own."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from idxadvisor import __version__
from idxadvisor.errors import UsageError
from idxadvisor.files import write_atomic


class _Group(click.Group):
    """Turns :class:`UsageError` into one line on stderr and exit 2, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            click.echo(f"idxadvisor: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="idxadvisor")
def main() -> None:
    """Index advice for Django projects on PostgreSQL.

    \b
    Typical flow:
      idxadvisor analyze .              # what indexes would pay off, and why
      idxadvisor generate .             # write AddIndexConcurrently migrations
      idxadvisor check app/views.py     # pre-commit: flag unindexed filters
    """


def _remember(ctx: click.Context, param: click.Parameter, value):
    """Keep a live-database option in the context for :func:`_request`."""
    ctx.meta[f"idxadvisor.{param.name}"] = value
    return value


def _analysis_options(f):
    """Options shared by analyze and generate: where the queries and the schema come from."""
    options = [
        click.argument("project_dir", required=False, type=click.Path(path_type=Path)),
        click.option("--settings", metavar="MODULE",
                     help="Django settings module (default: read from PROJECT_DIR/manage.py)."),
        click.option("--workload", "workload_files", multiple=True,
                     type=click.Path(path_type=Path), metavar="FILE",
                     help="A .sql file (statements separated by ';', %s or $1 placeholders) or "
                          "a capture file from `idxadvisor capture`. Repeatable. With no "
                          "Django project, the analysis runs on the SQL alone."),
        click.option("--no-static", is_flag=True,
                     help="Do not scan the source for querysets; use only --workload files."),
        click.option("--database-url", envvar="DATABASE_URL", metavar="URL",
                     expose_value=False, callback=_remember,
                     help="Use this PostgreSQL database (read-only): catalog indexes, pg_stats, "
                          "HypoPG what-if costs. Also read from DATABASE_URL."),
        click.option("--use-settings-db", is_flag=True, expose_value=False, callback=_remember,
                     help="Use the Django settings' default database, read-only."),
        click.option("--from-pg-stat-statements", is_flag=True, expose_value=False,
                     callback=_remember,
                     help="Add the database's pg_stat_statements queries to the workload, "
                          "weighted by total time."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _request(project_dir, settings, workload_files, no_static):
    from idxadvisor.pipeline import AnalysisRequest

    meta = click.get_current_context().meta
    return AnalysisRequest(
        project_dir=project_dir,
        settings=settings,
        workload_files=tuple(workload_files),
        static=not no_static,
        database_url=meta.get("idxadvisor.database_url") or None,
        use_settings_db=bool(meta.get("idxadvisor.use_settings_db")),
        from_pg_stat_statements=bool(meta.get("idxadvisor.from_pg_stat_statements")),
    )


@main.command("analyze")
@_analysis_options
@click.option("--format", "output_format", type=click.Choice(["table", "json"]),
              default="table", show_default=True, help="A report for people, or stable JSON.")
@click.option("--output", "-o", "output_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the report to FILE (atomically) instead of stdout.")
@click.option("--fail-on-recommendations", is_flag=True,
              help="Exit 1 when any index is proposed (for CI).")
def analyze_command(project_dir, settings, workload_files, no_static, output_format,
                    output_file, fail_on_recommendations) -> None:
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

    Exit status: 0 when it ran (1 with --fail-on-recommendations and a proposal),
    2 on bad input.
    """
    from idxadvisor.pipeline import run

    analysis = run(_request(project_dir, settings, workload_files, no_static))
    if output_format == "json":
        from idxadvisor.json_report import dumps, is_json_report

        text = dumps(analysis)
        if output_file is not None:
            write_atomic(output_file, text, ours=is_json_report)
        else:
            click.echo(text, nl=False)
    else:
        from rich.console import Console

        from idxadvisor.table_report import is_table_report, render

        if output_file is not None:
            console = Console(record=True, width=120, file=io.StringIO(), color_system=None)
            render(analysis, console)
            write_atomic(output_file, console.export_text(), ours=is_table_report)
        else:
            render(analysis, Console())
    if fail_on_recommendations and analysis.advice.recommendations:
        sys.exit(1)


@main.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--project", "project_dir", type=click.Path(path_type=Path),
              help="Django project directory (default: the current one, or the pyproject.toml's).")
@click.option("--settings",
              help="Django settings module (default: [tool.idxadvisor] or manage.py).")
@click.option("--workload", "workload_files", multiple=True, type=click.Path(path_type=Path),
              help="A captured workload file to check as well (repeatable).")
@click.option("--format", "output_format", default="text", show_default=True,
              type=click.Choice(["text", "json", "github", "sarif"]))
@click.option("--output", "-o", "output_file", type=click.Path(path_type=Path),
              help="Write the report to this file instead of stdout.")
@click.option("--ignore", multiple=True, metavar="CODES",
              help="Check codes not to report, comma-separated (adds to [tool.idxadvisor] ignore).")
@click.option("--list-checks", is_flag=True, help="List the checks and exit.")
@click.option("--explain", metavar="CODE", help="Print a check's documentation and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Also print querysets that were skipped.")
def check_command(files: tuple[Path, ...], project_dir: Path | None, settings: str | None,
                  workload_files: tuple[Path, ...], output_format: str,
                  output_file: Path | None, ignore: tuple[str, ...], list_checks: bool,
                  explain: str | None, verbose: bool) -> None:
    """Flag querysets in FILES (default: the whole project) that no index serves.

    Exit status: 1 when anything is flagged, 0 when clean, 2 on bad input. Silence one line
    with a comment `# idxadvisor: ignore[IDX001]`.
    """
    from idxadvisor.checks import CHECKS, CheckRequest, check
    from idxadvisor.checks.output import is_check_report, render

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
    result = check(CheckRequest(files=files, project_dir=project_dir, settings=settings,
                                workload_files=workload_files, ignore=ignore))
    report = render(result.findings, output_format, result.skipped)
    if output_file is not None:
        write_atomic(output_file, report + "\n", ours=is_check_report)
    elif report:
        click.echo(report)
    if result.skipped:
        if verbose:
            for s in result.skipped:
                where = f"{s.origin}: " if s.origin else ""
                click.echo(f"idxadvisor: skipped {where}{s.reason}", err=True)
        elif output_format == "text":
            click.echo(f"idxadvisor: {len(result.skipped)} queryset(s) could not be analysed "
                       "(-v lists them)", err=True)
    if result.findings:
        if output_format == "text":
            click.echo(f"idxadvisor: {len(result.findings)} problem(s) found", err=True)
        sys.exit(1)


@main.command(
    "capture",
    options_metavar="[OPTIONS] --",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--output", "-o", default="idxadvisor-workload.jsonl", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Workload file to write (JSON Lines). An existing capture file is replaced.")
@click.option("--append", is_flag=True,
              help="Add to an existing capture file instead of replacing it.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def capture_command(output: Path, append: bool, command: tuple[str, ...]) -> None:
    """Run COMMAND and record every SQL statement Django executes in it.

    \b
    Examples:
      idxadvisor capture -- python manage.py test
      idxadvisor capture -o ci.jsonl -- pytest -n 4
      idxadvisor capture --append -- python manage.py send_digests

    Nothing in the project changes: every Python process of COMMAND (forked or
    spawned workers too) records each statement's SQL with placeholders, calls,
    time and origin (the first line of your code on the stack). No parameter
    values are written, only constants that appear literally in your code.
    Exits with COMMAND's exit code. Then: idxadvisor analyze --workload FILE.
    """
    from idxadvisor.capture.launcher import run_capture

    run = run_capture(command, output, append=append)
    click.echo(f"idxadvisor capture: {run.summary} -> {output}", err=True)
    if run.summary.statements == 0:
        click.echo("idxadvisor capture: no queries recorded: is COMMAND a Python program that "
                   "uses Django (and not started with python -I/-S/-E)?", err=True)
    sys.exit(run.exit_code)


@main.command("generate")
@_analysis_options
@click.option("--app", "apps_filter", multiple=True, metavar="LABEL",
              help="Only this app's migration (repeatable).")
@click.option("--only", multiple=True, metavar="NAME",
              help="Only the recommended index with this name (repeatable).")
@click.option("--dry-run", is_flag=True,
              help="Print the migrations and a diff of the models; write nothing.")
@click.option("--drop-redundant", is_flag=True,
              help="Also drop redundant Meta.indexes (RemoveIndexConcurrently).")
def generate_command(project_dir, settings, workload_files, no_static,
                     apps_filter: tuple[str, ...], only: tuple[str, ...], dry_run: bool,
                     drop_redundant: bool) -> None:
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
    """
    from idxadvisor.migrations import plan_migrations, write_plan
    from idxadvisor.pipeline import run

    analysis = run(_request(project_dir, settings, workload_files, no_static))
    if analysis.root is None:
        raise UsageError("generate needs a Django project (manage.py or --settings)")
    plan = plan_migrations(analysis.advice.recommendations, analysis.advice.redundant,
                           queries=analysis.workload.by_id(), apps_filter=apps_filter,
                           only=only, drop_redundant=drop_redundant, root=analysis.root)
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
    try:
        return str(path.relative_to(root.resolve())) if root is not None else str(path)
    except ValueError:
        return str(path)


@main.command("verify")
@_analysis_options
@click.option("--allow-writes", is_flag=True,
              help="Required: verify builds indexes in the database (use a staging copy).")
@click.option("--keep", is_flag=True, help="Leave the indexes in place (default: drop them).")
@click.option("--runs", default=3, show_default=True, type=click.IntRange(1, 50),
              help="EXPLAIN ANALYZE runs per query and side; the median is reported.")
def verify_command(project_dir, settings, workload_files, no_static, allow_writes, keep,
                   runs) -> None:
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
    """
    from idxadvisor.live.verify import verify
    from idxadvisor.pipeline import run

    request = _request(project_dir, settings, workload_files, no_static)
    if not allow_writes:
        raise UsageError("verify builds indexes in the database: pass --allow-writes to confirm "
                         "it is a copy you allow to change")
    if not request.database_url and not request.use_settings_db:
        raise UsageError("verify needs a database: --database-url URL or --use-settings-db")
    analysis = run(request)
    recs = analysis.advice.recommendations
    if not recs:
        click.echo("Nothing to verify: no index is proposed.")
        return
    served = {q for r in recs for q in r.serves}
    queries = [q for q in analysis.workload.queries if q.id in served]
    from idxadvisor.pipeline import database_url

    report = verify(database_url(request), [(r.name, r.sql) for r in recs], queries,
                    keep=keep, runs=runs, extensions=[e for r in recs for e in r.extensions])
    click.echo(report.render())
