"""Literals and parameters in PostgreSQL text.

>>> has_parameter("DATE_TRUNC($1, created_at)"), has_parameter("UPPER(email)")
(True, False)
>>> has_parameter("note = '$1 or %s'")
False
"""

from __future__ import annotations

import re

# A string literal (with '' escapes), a quoted identifier, a $n parameter or a %s placeholder.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(?P<param>\$\d+|%s|%\(\w+\)s)")


def has_parameter(sql: str) -> bool:
    """Whether ``sql`` holds a bind parameter (``$1``, ``%s``, ``%(name)s``) outside quotes."""
    return any(m.group("param") for m in _TOKENS.finditer(sql))
