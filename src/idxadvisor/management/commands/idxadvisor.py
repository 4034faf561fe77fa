"""``python manage.py idxadvisor analyze|generate|capture …``: the CLI, inside the project.

``analyze`` and ``generate`` run the ``idxadvisor`` command line with the arguments as given,
plus this project's directory and settings module (``manage.py`` set ``DJANGO_SETTINGS_MODULE``)
unless the arguments name others. ``capture`` without a command
records the project's test suite: ``manage.py idxadvisor capture`` is
``idxadvisor capture -- python manage.py test``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from django.core.management.base import BaseCommand, CommandError

SUBCOMMANDS = ("analyze", "generate", "capture")


class Command(BaseCommand):
    help = (
        "Index advice for this project: analyze | generate | capture. "
        "Arguments after the subcommand go to `idxadvisor SUBCOMMAND` unchanged; "
        "`manage.py idxadvisor SUBCOMMAND --help` shows them."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("subcommand", choices=SUBCOMMANDS)
        parser.add_argument("arguments", nargs="...", help="passed to idxadvisor SUBCOMMAND")

    def run_from_argv(self, argv: list[str]) -> None:
        # argv: [manage.py, "idxadvisor", SUBCOMMAND, ...]. The arguments are click's to parse,
        # not argparse's, so only `manage.py idxadvisor [-h]` goes through BaseCommand.
        if len(argv) < 3 or argv[2] in ("-h", "--help") or argv[2] not in SUBCOMMANDS:
            super().run_from_argv(argv)
            return
        sys.exit(self.run_cli(argv[0], argv[2], argv[3:]))

    def handle(self, *args: Any, **options: Any) -> None:
        code = self.run_cli(sys.argv[0], options["subcommand"], list(options["arguments"]))
        if code:
            raise CommandError(
                f"idxadvisor {options['subcommand']} exited with status {code}", returncode=code
            )

    def run_cli(self, manage_py: str, subcommand: str, arguments: list[str]) -> int:
        """Exit status of ``idxadvisor SUBCOMMAND ARGUMENTS``."""
        from idxadvisor.cli import main

        if subcommand in ("analyze", "generate"):
            arguments = _with_this_project(main, subcommand, arguments, manage_py)
        if subcommand == "capture" and "--" not in arguments:
            options = [a for a in arguments if a not in ("-h", "--help")]
            if len(options) != len(arguments):
                arguments = [*options, "--help"]
            else:
                arguments = [*options, "--", sys.executable, os.path.abspath(manage_py), "test"]
        try:
            result = main.main(
                args=[subcommand, *arguments],
                prog_name=f"{os.path.basename(manage_py)} idxadvisor",
                standalone_mode=False,
            )
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except click.exceptions.Abort:
            return 1
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return result if isinstance(result, int) else 0


def _with_this_project(
    group: click.Group, subcommand: str, arguments: list[str], manage_py: str
) -> list[str]:
    """Point the command at this project and these settings unless the user chose others."""
    command = group.commands.get(subcommand)
    if command is None:
        return arguments
    try:
        ctx = command.make_context(subcommand, list(arguments), resilient_parsing=True)
    except click.ClickException:
        return arguments  # let the real run report the mistake
    params = ctx.params
    extra: list[str] = []
    if "settings" in params and not params["settings"] and os.environ.get("DJANGO_SETTINGS_MODULE"):
        extra += ["--settings", os.environ["DJANGO_SETTINGS_MODULE"]]
    if "project_dir" in params and params["project_dir"] is None:
        extra.append(os.path.dirname(os.path.abspath(manage_py)))
    return [*arguments, *extra]
