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
(``\\timing``, ``\\connect``) and text left unterminated at the end of a file come back as
skipped.

Dumps: the data of a ``COPY … FROM stdin;`` (``pg_dump`` output) runs to a line ``\\.``; it is
skipped as a whole, with one reason naming the table and never the rows, and the statement
after it is read as usual.

Encoding: UTF-8 (a BOM is allowed). A statement holding bytes that are not UTF-8 is skipped
with the line of the first bad byte; the statements around it are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from idxadvisor.errors import UsageError
from idxadvisor.files import display_path
from idxadvisor.sql.literals import number_placeholders
from idxadvisor.sql.statements import comment_end
from idxadvisor.types.workload import Origin, Skipped, Statement

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_DIRECTIVE = re.compile(r"--\s*idxadvisor\s*:(.*)$", re.I)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A statement's text with what the splitter saw around it."""

    sql: str
    line: int  # first non-comment line, 1-based
    directive: str | None  # the text after "idxadvisor:" in the comments before it
    directive_line: int
    complete: bool  # False when the file ended inside a string or comment (or COPY data)
    meta: bool = False  # a psql meta-command line
    copy_table: str | None = None  # a COPY … FROM stdin and its data: the target table
    copy_rows: int = 0  # the data lines that followed it


def read_sql_files(paths: Sequence[Path]) -> tuple[tuple[Statement, ...], tuple[Skipped, ...]]:
    """Statements of every file, in file order; see the module docstring for the format."""
    statements: list[Statement] = []
    skipped: list[Skipped] = []
    for item in iter_sql_files(paths):
        if isinstance(item, Skipped):
            skipped.append(item)
        else:
            statements.append(item)
    return tuple(statements), tuple(skipped)


def iter_sql_files(paths: Sequence[Path]) -> Iterator[Statement | Skipped]:
    """:func:`read_sql_files` one item at a time, as the files are split: what the workload
    builder reads, so a big file costs its text and the distinct shapes, never a list of all
    its statements."""
    for path in paths:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read workload file {path}: {exc.strerror or exc}") from exc
        # Undecodable bytes survive as lone surrogates, so one bad byte costs its statement only.
        text = data.decode("utf-8-sig", errors="surrogateescape")
        shown = _display_path(path)
        for chunk in _split(text):
            origin = Origin(shown, chunk.line)
            problem = _problem(chunk)
            if problem is not None:
                yield Skipped(problem, origin, _printable(chunk.sql))
                continue
            calls, total_ms = _weights(chunk, shown)
            yield Statement(
                sql=number_placeholders(chunk.sql),
                origin=origin,
                source="sql",
                calls=calls,
                total_time_ms=total_ms,
            )


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _problem(chunk: _Chunk) -> str | None:
    """Why a chunk is not a statement to analyse, or None when it is one."""
    if chunk.copy_table is not None:
        end = (
            f"{chunk.copy_rows} data line(s) up to its \\. skipped"
            if chunk.complete
            else f"no \\. ends its data: the rest of the file ({chunk.copy_rows} line(s)) skipped"
        )
        return f"COPY … FROM stdin into {chunk.copy_table}: table data, not a query; {end}"
    if chunk.meta:
        command = chunk.sql.split(None, 1)[0] if chunk.sql.strip() else "\\"
        return f"psql meta-command {_printable(command)}, not SQL"
    bad = _UNDECODABLE.search(chunk.sql)
    if bad is not None:
        byte = ord(bad.group()) - 0xDC00
        line = chunk.line + chunk.sql.count("\n", 0, bad.start())
        return f"not valid UTF-8: byte 0x{byte:02x} at line {line}"
    if not chunk.complete:
        return "unterminated string or comment at end of file"
    return None


def _printable(text: str) -> str:
    """``text`` with undecodable bytes shown as U+FFFD, safe to print and to write as JSON."""
    return _UNDECODABLE.sub("\ufffd", text)


def _display_path(path: Path) -> str:
    return display_path(path)


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


def _split(text: str) -> Iterator[_Chunk]:
    """Cut ``text`` at top-level semicolons, tracking lines, comments and quotes; each chunk is
    given as soon as it is complete (only the current one is held)."""
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
        if chunks:  # complete: a COPY's data, the one later change, comes in the same step
            yield from chunks
            chunks.clear()
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
                yield from chunks
                return
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
            before = len(chunks)
            flush(i)
            i += 1
            start = i
            if len(chunks) > before and (table := _copy_from_stdin(chunks[-1].sql)):
                i, rows, terminated = _skip_copy_data(text, i)
                line += text.count("\n", start, i)
                start = i
                chunks[-1] = replace(
                    chunks[-1], copy_table=table, copy_rows=rows, complete=terminated
                )
            continue
        quoted_end = _quoted_end(text, i)
        if quoted_end is None:
            i += 1
            continue
        line += text.count("\n", i, min(quoted_end, n))
        if quoted_end > n:
            flush(n, complete=False)
            yield from chunks
            return
        i = quoted_end
    if first_line is not None:
        flush(n)
    yield from chunks


_NAME = r'(?:"(?:[^"]|"")*"|[^\s("]+)'  # an identifier, quoted or not
_COPY_FROM_STDIN = re.compile(
    rf"COPY\s+(?P<table>{_NAME}(?:\s*\.\s*{_NAME})?)(?:\s*\([^)]*\))?\s+FROM\s+STDIN\b", re.I
)


def _copy_from_stdin(sql: str) -> str | None:
    """The target table of a ``COPY … FROM stdin`` statement (its data follows it), else None.

    >>> _copy_from_stdin('COPY public.hook (id, "Note") FROM stdin')
    'public.hook'
    >>> _copy_from_stdin("COPY hook TO STDOUT") is None
    True
    """
    found = _COPY_FROM_STDIN.match(_split_comments(sql).strip())
    return found.group("table") if found else None


def _skip_copy_data(text: str, i: int) -> tuple[int, int, bool]:
    """Skip COPY data from ``i`` (just after its ``;``) up to the line ``\\.``.

    The data starts on the next line and is never tokenised: rows hold quotes, semicolons and
    backslashes freely. Returns (where reading goes on, data lines skipped, whether ``\\.``
    was found).
    """
    newline = text.find("\n", i)
    if newline == -1:
        return len(text), 0, False
    pos = newline + 1
    rows = 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        if text[pos:end].rstrip("\r") == "\\.":
            return end, rows, True
        rows += 1
        pos = end + 1
    return len(text), rows, False


def _has_code(body: str) -> bool:
    """Whether the text holds more than comments (a statement made only of comments is empty)."""
    return bool(_split_comments(body).strip())


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


def _split_comments(body: str) -> str:
    return _COMMENTS.sub(" ", body)


def _comment_end(text: str, i: int) -> int:
    """Index just after the ``*/`` closing the (nestable) comment at ``i``; > len when unclosed."""
    end = comment_end(text, i)
    return end if end >= 0 else len(text) + 1


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
