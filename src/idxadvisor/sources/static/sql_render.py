"""Django's ``(sql, params)`` as one PostgreSQL statement in the project's SQL convention.

Values known from the source become SQL literals; values known only at run time (the
:data:`RUNTIME` marker among the params, an object whose class says ``RUNTIME_PARAM`` — the
scan's run-time value where Django passes it on as it is —, or a LIMIT/OFFSET number listed in
``runtime_numbers``) become ``$1``, ``$2`` … in order of appearance.

>>> print(render('SELECT "id" FROM "t" WHERE "s" IN (%s, %s) AND "d" <= %s LIMIT 100',
...              ("pending", "it's", RUNTIME)))
SELECT "id" FROM "t" WHERE "s" IN ('pending', 'it''s') AND "d" <= $1 LIMIT 100
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import re
import uuid
from collections.abc import Collection, Sequence
from typing import Any


class _Runtime:
    """Marker param: a value only known at run time."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RUNTIME"


RUNTIME: Any = _Runtime()

# `%s` params, `%%` escaped percent signs, and LIMIT/OFFSET numbers Django inlined.
_TOKEN = re.compile(r"%s|%%|\b(LIMIT|OFFSET) (\d+)\b")
_OPERATOR_BEFORE = re.compile(r"(?:[=<>~(]|\bLIKE|\bILIKE)\s*$", re.IGNORECASE)


def render(sql: str, params: Sequence[Any], runtime_numbers: Collection[int] = ()) -> str:
    """One statement with literals inlined and runtime values numbered ``$1``, ``$2`` …"""
    values = iter(params)
    counter = 0
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(sql):
        out.append(sql[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token == "%%":
            out.append("%")
        elif token == "%s":
            try:
                value = next(values)
            except StopIteration:
                raise ValueError("fewer params than %s placeholders in Django's SQL") from None
            if value is RUNTIME or getattr(value, "RUNTIME_PARAM", False):
                counter += 1
                out.append(f"${counter}")
            else:
                out.append(literal(value))
        elif int(match.group(2)) in runtime_numbers:
            counter += 1
            out.append(f"{match.group(1)} ${counter}")
        else:
            out.append(token)
    out.append(sql[pos:])
    return _unwrap_runtime_parens("".join(out))


def _unwrap_runtime_parens(sql: str) -> str:
    """``= ($1)`` → ``= $1``: parentheses Django puts around expression values of lookups.

    Kept where they are syntax: ``IN ($1)``, function calls ``UPPER($1)``.
    """
    pattern = re.compile(r"\((\$\d+)\)")
    pieces: list[str] = []
    pos = 0
    for match in pattern.finditer(sql):
        before = sql[: match.start()]
        pieces.append(sql[pos : match.start()])
        if _OPERATOR_BEFORE.search(before):
            pieces.append(match.group(1))
        else:
            pieces.append(match.group(0))
        pos = match.end()
    pieces.append(sql[pos:])
    return "".join(pieces)


def literal(value: Any) -> str:
    """A Python value (as Django hands it to the driver) as a PostgreSQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"'{value!r}'::float8"
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else f"'{value}'::numeric"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, datetime.datetime):
        return _quote(value.isoformat(sep=" "))
    if isinstance(value, datetime.date | datetime.time):
        return _quote(value.isoformat())
    if isinstance(value, datetime.timedelta):
        return f"INTERVAL {_quote(f'{value.total_seconds()!r} seconds')}"
    if isinstance(value, uuid.UUID):
        return _quote(str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return _quote("\\x" + bytes(value).hex()) + "::bytea"
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(literal(v) for v in value) + "]"
    wrapped = getattr(value, "obj", None)  # psycopg's Json/Jsonb wrappers around a JSON value
    if type(value).__name__ in {"Json", "Jsonb"}:
        dumps = getattr(value, "dumps", None) or json.dumps
        return _quote(dumps(wrapped)) + ("::jsonb" if type(value).__name__ == "Jsonb" else "")
    return _quote(str(value))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
