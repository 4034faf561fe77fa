"""Errors a user can act on.

Every stage raises :class:`UsageError` (or a subclass) for bad input; the CLI turns it into a
single line on stderr and exit code 2. Anything else is a bug and may show a traceback.
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""

    exit_code = 2


class ProjectError(UsageError):
    """The Django project cannot be found, configured or imported."""


class DatabaseError(UsageError):
    """The database is unreachable, lacks a permission or an extension."""


class UnparsableSQL(ValueError):
    """One statement that sqlglot cannot parse; the run skips it and goes on."""
