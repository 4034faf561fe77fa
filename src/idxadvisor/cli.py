"""The command line: parses options and calls the pipeline stages. No logic of its own."""

from __future__ import annotations

import sys

import click

from idxadvisor import __version__
from idxadvisor.errors import UsageError


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
