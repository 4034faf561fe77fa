"""IDX000 — a file the checks could not read, so none of its querysets were checked.

A Python file with a syntax error (or bytes that are not UTF-8) cannot be parsed, so idxadvisor
cannot see the querysets in it. Passing it silently would report "no problem" for code nobody
looked at; instead the file is reported at the place of the error, and ``check`` fails until the
file parses (a baseline never hides it: an unreadable file's old and new problems look alike).
Fix the syntax error (``python -m py_compile FILE`` shows it) and run the check again.
See https://docs.python.org/3/library/exceptions.html#SyntaxError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from idxadvisor.checks.registry import CheckContext, Problem, register

# The reason says "cannot parse: SyntaxError: …"; the message adds its own "cannot parse".
_LEADING = re.compile(r"^\s*(?:cannot (?:parse|read)(?: (?:this |the )?file)?\s*:\s*)", re.I)


@register(
    code="IDX000",
    name="unparsable-file",
    summary="A file could not be parsed, so none of its querysets were checked.",
    message="cannot parse this file: {error}",
)
def unparsable_file(context: CheckContext) -> Iterator[Problem]:
    for skipped in context.analysis.skipped:
        if skipped.kind != "file" or skipped.origin is None:
            continue
        error = _LEADING.sub("", skipped.reason, count=1) or skipped.reason
        yield Problem(details=(("error", error),), origin=skipped.origin)
