"""Parsing: each distinct statement text is parsed once, with cheap repairs and a depth guard.

:func:`parse` gives the sqlglot trees of one text, or the one-line reason it cannot be read.
It is cached by text, so every stage asking for the same statement gets the same trees (the
trees are shared: callers copy before they change one).

>>> parse("SELECT a FROM t WHERE b = $2,$3").problem is None   # repaired: "$2, $3"
True
>>> parse("SELECT FROM WHERE (").problem.split(":")[0]
'unparsable SQL'
>>> parse("SELECT " + "(" * 40 + "1" + ")" * 40).problem
'too deeply nested for analysis (40 levels of parentheses; the limit is 32)'

sqlglot's compiled core (the ``sqlglotc`` package: ``pip install 'idxadvisor[fast]'``) is used
when it is installed; :data:`COMPILED` says whether it is.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot import tokens as _sqlglot_tokens

from idxadvisor.sql.fingerprint import too_deep, too_deep_reason
from idxadvisor.sql.literals import number_placeholders

__all__ = ["COMPILED", "Parsed", "first_line", "parse"]

COMPILED: bool = bool(getattr(_sqlglot_tokens, "SQLGLOTC_INSTALLED", False))

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PSQL_META = re.compile(r"^\s*\\.*$", re.M)
_PARAM_COMMA = re.compile(r"\$(\d+),(?=\S)")


@dataclass(frozen=True, slots=True)
class Parsed:
    """The trees of one text (``None`` entries dropped), or why there are none."""

    trees: tuple[exp.Expr, ...] = ()
    problem: str | None = None


def first_line(exc: Exception) -> str:
    """The first line of an exception's message, without terminal colours."""
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _repaired(sql: str) -> str:
    """Cheap repairs of SQL as it comes out of logs and Django: psql meta-commands, trailing
    semicolons, ``$2,$3`` (sqlglot cannot tokenize it), Django's ``%s`` and ``%%``."""
    text = _PSQL_META.sub("", sql).strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return number_placeholders(_PARAM_COMMA.sub(r"$\1, ", text))


@functools.lru_cache(maxsize=16384)  # by text: a workload asks for the same statement again
def parse(sql: str) -> Parsed:
    """Parse one text (PostgreSQL dialect), trying cheap repairs before giving up.

    Never raises: any failure of sqlglot on the text (it raises ValueError, KeyError,
    IndexError… besides ParseError on odd input) and running out of recursion depth come back
    as :attr:`Parsed.problem`, one line.
    """
    deep = too_deep(sql)
    if deep is not None:
        return Parsed(problem=deep)  # checked first: the parser would hit the interpreter's limit
    try:
        trees = sqlglot.parse(sql, read="postgres")
    except RecursionError:
        return Parsed(problem=too_deep_reason("parsing"))
    except Exception as first_error:
        repaired = _repaired(sql)
        if repaired == sql:
            return Parsed(problem=f"unparsable SQL: {first_line(first_error)}")
        try:
            trees = sqlglot.parse(repaired, read="postgres")
        except RecursionError:
            return Parsed(problem=too_deep_reason("parsing"))
        except Exception:
            return Parsed(problem=f"unparsable SQL: {first_line(first_error)}")
    return Parsed(tuple(t for t in trees if t is not None))
