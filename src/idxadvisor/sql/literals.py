"""Literals and parameters in PostgreSQL text.

>>> has_parameter("DATE_TRUNC($1, created_at)"), has_parameter("UPPER(email)")
(True, False)
>>> has_parameter("note = '$1 or %s'")
False
>>> count_parameters("status IN ($1, $2, '$3')")
2
>>> number_placeholders("SELECT * FROM t WHERE a = %s AND b LIKE %s AND c = '%s' -- %s")
"SELECT * FROM t WHERE a = $1 AND b LIKE $2 AND c = '%s' -- %s"
"""

from __future__ import annotations

import re

__all__ = ["count_parameters", "has_parameter", "number_placeholders"]

# A string literal (with '' escapes), a quoted identifier, a $n parameter or a %s placeholder.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(?P<param>\$\d+|%s|%\(\w+\)s)")

# What numbering looks at: comments, quoted text (E'…' with backslash escapes, '…', "…",
# $tag$…$tag$) are copied as they are; %%, %(name)s and %s outside them are placeholders.
_PLACEHOLDER_SCAN = re.compile(
    r"--[^\n]*"
    r"|/\*.*?\*/"
    r"|(?<![A-Za-z0-9_])[eE]'(?:[^'\\]|\\.|'')*'"
    r"|'(?:[^']|'')*'"
    r"|\"(?:[^\"]|\"\")*\""
    r"|(?<![A-Za-z0-9_$])(?P<tag>\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$).*?(?P=tag)"
    r"|(?P<ph>%%|%\((?P<name>\w+)\)s|%s)",
    re.S,
)


def has_parameter(sql: str) -> bool:
    """Whether ``sql`` holds a bind parameter (``$1``, ``%s``, ``%(name)s``) outside quotes."""
    return any(m.group("param") for m in _TOKENS.finditer(sql))


def count_parameters(sql: str) -> int:
    """How many bind parameters ``sql`` holds outside quotes."""
    return sum(1 for m in _TOKENS.finditer(sql) if m.group("param"))


def number_placeholders(sql: str) -> str:
    """Django's (psycopg's) ``%s`` / ``%(name)s`` as ``$1``, ``$2`` …; ``%%`` as ``%``.

    The one home of this rewrite for the project (the stdlib-only capture runtime keeps its
    own copy, tested to agree). Quoted text and comments are left as written; a name used
    twice is one parameter; a text without ``%s`` comes back unchanged (its ``%`` are real).

    >>> number_placeholders("SELECT %(a)s, %(b)s, %(a)s, x %% 2")
    'SELECT $1, $2, $1, x % 2'
    >>> number_placeholders("SELECT '100%%' WHERE a = $1")
    "SELECT '100%%' WHERE a = $1"
    """
    if "%" not in sql:
        return sql
    if not any(m.group("ph") not in (None, "%%") for m in _PLACEHOLDER_SCAN.finditer(sql)):
        return sql
    names: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        placeholder = match.group("ph")
        if placeholder is None:
            text = match.group()
            # Django doubles % in its string literals too (LIKE '%%x'); only there.
            return text.replace("%%", "%") if text[:1] in "'eE" and "'" in text[:2] else text
        if placeholder == "%%":
            return "%"
        name = match.group("name") or f"#{len(names)}"
        if name not in names:
            names[name] = len(names) + 1
        return f"${names[name]}"

    return _PLACEHOLDER_SCAN.sub(replace, sql)
