"""Workload files: ``.sql`` files of statements separated by semicolons.

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "w.sql").write_text(
...     "-- nightly job\\n"
...     "-- idxadvisor: calls=1200 total_ms=5300.5\\n"
...     "SELECT id FROM hook WHERE status = %s AND note = 'a;b';\\n"
...     "\\n"
...     "DELETE FROM hook WHERE id = $1\\n"
... )
>>> statements, skipped = read_sql_files([d / "w.sql"])
>>> for s in statements:
...     print(s.sql, s.origin.line, s.calls, s.total_time_ms)
SELECT id FROM hook WHERE status = $1 AND note = 'a;b' 3 1200 5300.5
DELETE FROM hook WHERE id = $1 5 1 0.0

The splitter respects ``'…'`` strings (``''`` inside, and ``E'…'`` backslash escapes),
``"…"`` identifiers, ``$tag$…$tag$`` dollar quotes, ``--`` and (nested) ``/* */`` comments.

Placeholders: Django's ``%s`` become ``$1``, ``$2`` … in order within each statement (``$n``
is the project's SQL convention); in such a statement ``%%`` is Django's escaped ``%`` and
becomes ``%``. Statements already using ``$1`` are kept as written.

Weights: a comment line ``-- idxadvisor: calls=N total_ms=T`` among the comments right before
a statement gives it that many calls and that much total time (either key may be left out;
unknown keys or bad numbers are a usage error). Without it a statement counts once.

Each statement's origin is the file (relative to the current directory when it is below it)
and the line of its first non-comment line. Empty statements are ignored; psql meta-commands
(``\\timing``) and text left unterminated at the end of a file come back as skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from idxadvisor.errors import UsageError
from idxadvisor.workload import Origin, Skipped, Statement

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_DIRECTIVE = re.compile(r"--\s*idxadvisor\s*:(.*)$", re.I)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A statement's text with what the splitter saw around it."""

    sql: str
    line: int  # first non-comment line, 1-based
    directive: str | None  # the text after "idxadvisor:" in the comments before it
    directive_line: int
    complete: bool  # False when the file ended inside a string or comment
    meta: bool = False  # a psql meta-command line


def read_sql_files(paths: Sequence[Path]) -> tuple[tuple[Statement, ...], tuple[Skipped, ...]]:
    """Statements of every file, in file order; see the module docstring for the format."""
    statements: list[Statement] = []
    skipped: list[Skipped] = []
    for path in paths:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"cannot read workload file {path}: {reason}") from exc
        shown = _display_path(path)
        for chunk in _split(text):
            origin = Origin(shown, chunk.line)
            if chunk.meta:
                skipped.append(Skipped("psql meta-command, not SQL", origin, chunk.sql))
                continue
            if not chunk.complete:
                skipped.append(
                    Skipped("unterminated string or comment at end of file", origin, chunk.sql)
                )
                continue
            calls, total_ms = _weights(chunk, shown)
            statements.append(
                Statement(
                    sql=_number_placeholders(chunk.sql),
                    origin=origin,
                    source="sql",
                    calls=calls,
                    total_time_ms=total_ms,
                )
            )
    return tuple(statements), tuple(skipped)


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return os.fspath(path)


def _weights(chunk: _Chunk, shown: str) -> tuple[int, float]:
    calls, total_ms = 1, 0.0
    if chunk.directive is None:
        return calls, total_ms
    where = f"{shown}:{chunk.directive_line}"
    for item in chunk.directive.split():
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            if key == "calls":
                calls = int(value)
                if calls < 0:
                    raise ValueError
            elif key == "total_ms":
                total_ms = float(value)
                if not total_ms >= 0:  # also rejects NaN
                    raise ValueError
            else:
                raise UsageError(
                    f"{where}: unknown key {key!r} in idxadvisor comment (use calls=, total_ms=)"
                )
        except ValueError:
            raise UsageError(f"{where}: bad value in idxadvisor comment: {item!r}") from None
    return calls, total_ms


def _split(text: str) -> list[_Chunk]:
    """Cut ``text`` at top-level semicolons, tracking lines, comments and quotes."""
    chunks: list[_Chunk] = []
    n = len(text)
    i = 0
    line = 1
    start = 0  # where the current statement's text begins
    first_line: int | None = None  # first line with statement text
    directive: str | None = None
    directive_line = 0

    def flush(end: int, complete: bool = True) -> None:
        nonlocal directive, first_line
        body = text[start:end].strip()
        if first_line is not None and _has_code(body):
            chunks.append(_Chunk(body, first_line, directive, directive_line, complete))
        directive = None
        first_line = None

    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
            continue
        if ch in " \t\r\f\v":
            i += 1
            continue
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            if first_line is None:
                found = _DIRECTIVE.match(text, i, end)
                if found:
                    directive, directive_line = found.group(1), line
            i = end
            continue
        if text.startswith("/*", i):
            end = _comment_end(text, i)
            line += text.count("\n", i, min(end, n))
            if end > n:
                start_line = line
                if first_line is not None:
                    flush(n, complete=False)
                else:
                    chunks.append(_Chunk(text[i:].strip(), start_line, None, 0, False))
                return chunks
            i = end
            continue
        if first_line is None:
            if ch == "\\":  # a psql meta-command runs to the end of its line
                end = text.find("\n", i)
                end = n if end == -1 else end
                chunks.append(_Chunk(text[i:end].strip(), line, None, 0, True, meta=True))
                directive = None
                i = end
                start = end
                continue
            if ch == ";":
                i += 1
                start = i
                directive = None
                continue
            first_line = line
            start = i
        if ch == ";":
            flush(i)
            i += 1
            start = i
            continue
        end = _quoted_end(text, i)
        if end is None:
            i += 1
            continue
        line += text.count("\n", i, min(end, n))
        if end > n:
            flush(n, complete=False)
            return chunks
        i = end
    if first_line is not None:
        flush(n)
    return chunks


def _has_code(body: str) -> bool:
    """Whether the text holds more than comments (a statement made only of comments is empty)."""
    return bool(_split_comments(body).strip())


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


def _split_comments(body: str) -> str:
    return _COMMENTS.sub(" ", body)


def _comment_end(text: str, i: int) -> int:
    """Index just after the ``*/`` closing the (nestable) comment at ``i``; > len when unclosed."""
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n + 1


def _quoted_end(text: str, i: int) -> int | None:
    """Index just after the string/identifier/dollar quote starting at ``i``; None when none
    starts there; > len when it is not closed."""
    n = len(text)
    ch = text[i]
    if ch == "'":
        backslashes = i > 0 and text[i - 1] in "eE" and (i < 2 or not _is_word(text[i - 2]))
        j = i + 1
        while j < n:
            c = text[j]
            if backslashes and c == "\\":
                j += 2
                continue
            if c == "'":
                if j + 1 < n and text[j + 1] == "'":
                    j += 2
                    continue
                return j + 1
            j += 1
        return n + 1
    if ch == '"':
        j = i + 1
        while j < n:
            if text[j] == '"':
                if j + 1 < n and text[j + 1] == '"':
                    j += 2
                    continue
                return j + 1
            j += 1
        return n + 1
    if ch == "$" and (i == 0 or not _is_word(text[i - 1])):
        tag = _DOLLAR_TAG.match(text, i)
        if tag is None:
            return None  # $1, a parameter
        close = text.find(tag.group(), tag.end())
        return n + 1 if close == -1 else close + len(tag.group())
    return None


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _number_placeholders(sql: str) -> str:
    """Django's ``%s`` → ``$1``, ``$2`` … outside quotes and comments; ``%%`` → ``%``."""
    pieces: list[str] = []
    i = 0
    n = len(sql)
    plain_from = 0
    spans: list[tuple[int, int, bool]] = []  # (start, end, is_code)
    while i < n:
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
        elif sql.startswith("/*", i):
            end = min(_comment_end(sql, i), n)
        else:
            quoted = _quoted_end(sql, i)
            if quoted is None:
                i += 1
                continue
            end = min(quoted, n)
        spans.append((plain_from, i, True))
        spans.append((i, end, False))
        i = plain_from = end
    spans.append((plain_from, n, True))
    if not any(is_code and "%s" in sql[a:b] for a, b, is_code in spans):
        return sql
    number = 0

    def placeholder(match: re.Match[str]) -> str:
        nonlocal number
        if match.group() == "%%":
            return "%"
        number += 1
        return f"${number}"

    for a, b, is_code in spans:
        part = sql[a:b]
        if is_code:
            pieces.append(re.sub(r"%%|%s", placeholder, part))
        else:
            pieces.append(part.replace("%%", "%") if part.startswith(("'", "E'", "e'")) else part)
    return "".join(pieces)
