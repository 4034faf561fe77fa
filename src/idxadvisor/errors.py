"""Errors a user can act on, and the exit status of every command.

Every stage raises :class:`UsageError` (or a subclass) for bad input; the CLI turns it into a
single line on stderr and exit code 2. Anything else is a bug: one line and exit code 3
(``--debug`` or ``IDXADVISOR_DEBUG=1`` shows the traceback).

    >>> EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL
    (0, 1, 2, 3)
    >>> UsageError("no settings").exit_code == EXIT_USAGE
    True
"""

from __future__ import annotations

EXIT_OK = 0  # it ran; nothing asked for a failure
EXIT_FINDINGS = 1  # `check` flagged something, or `analyze --fail-on-recommendations` proposed
EXIT_USAGE = 2  # bad input (options, project, settings, files, database); click's usage too
EXIT_INTERNAL = 3  # a bug in idxadvisor: one line, the traceback with --debug

# The "Exit status" paragraph of `--help`; `\b` keeps click from rewrapping it.
EXIT_STATUS_HELP = (
    "\b\nExit status:\n"
    "  0  it ran\n"
    "  1  {findings}\n"
    "  2  bad input (one line on stderr)\n"
    "  3  internal error (one line; --debug or IDXADVISOR_DEBUG=1 shows the traceback)"
)


def exit_status_help(findings: str = "not used by this command") -> str:
    """The exit-status paragraph for a command's help, with what exit 1 means for it.

    >>> print(exit_status_help("problems found").splitlines()[3])
      1  problems found
    """
    return EXIT_STATUS_HELP.format(findings=findings)


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""

    exit_code = EXIT_USAGE


class ProjectError(UsageError):
    """The Django project cannot be found, configured or imported."""


class DatabaseError(UsageError):
    """The database is unreachable, lacks a permission or an extension."""


class UnparsableSQL(ValueError):
    """One statement that sqlglot cannot parse; the run skips it and goes on."""


def one_line(exc: BaseException) -> str:
    """An exception as one line for a message.

    A database error gives PostgreSQL's primary message alone (its type says nothing to the
    user); anything else ``Type: text``.

    >>> one_line(ValueError("bad\\n  thing"))
    'ValueError: bad thing'
    """
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if primary:
        return " ".join(str(primary).split())
    text = " ".join(str(exc).split())
    if diag is not None:  # a database error without a server message (connection lost …)
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
