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

import codecs
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from idxadvisor.errors import UsageError
from idxadvisor.files import display_path
from idxadvisor.sql.literals import number_placeholders
from idxadvisor.sql.statements import comment_end
from idxadvisor.types.workload import Origin, Skipped, Statement

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
    """:func:`read_sql_files` one item at a time, as the files are read and split: what the
    workload builder reads, so a big file costs a piece of its text and the distinct shapes,
    never all its text nor a list of all its statements."""
    for path in paths:
        path = Path(path)
        shown = _display_path(path)
        for chunk in _split_pieces(_decoded_pieces(path)):
            origin = Origin(shown, chunk.line, in_workload_file=True)
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


_PIECE = 1 << 20  # bytes read at a time


def _decoded_pieces(path: Path, size: int = _PIECE) -> Iterator[str]:
    """The text of ``path``, decoded a piece at a time (a character cut between two reads is
    decoded whole in the next piece). Undecodable bytes survive as lone surrogates, so one bad
    byte costs its statement only."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
    try:
        with path.open("rb") as data:
            while block := data.read(size):
                yield decoder.decode(block)
    except OSError as exc:
        raise UsageError(f"cannot read workload file {path}: {exc.strerror or exc}") from exc
    yield decoder.decode(b"", final=True)


def _split(text: str) -> Iterator[_Chunk]:
    """Cut ``text`` at top-level semicolons, tracking lines, comments and quotes; each chunk is
    given as soon as it is complete."""
    yield from _split_part(text, _Carry(), final=True)


def _split_pieces(pieces: Iterable[str]) -> Iterator[_Chunk]:
    """:func:`_split` of the text the ``pieces`` make, holding only what is not yet decided
    (the statement a piece ends in) from one piece to the next."""
    carry = _Carry()
    held: list[str] = []  # joined only when read: a long statement is copied once per doubling
    size = 0
    tried = 0  # the length of a text that decided nothing: wait for twice as much
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size < 2 * tried:
            continue
        text = "".join(held)
        decided = yield from _split_part(text, carry, final=False)
        tried = size if decided == 0 else 0
        held = [text[decided:]]
        size -= decided
    yield from _split_part("".join(held), carry, final=True)


@dataclass(slots=True)
class _Carry:
    """What one piece of text leaves to the next: the line it ends on, the weight comment read
    since the last statement, a COPY whose data runs on (with the rows counted so far)."""

    line: int = 1
    directive: str | None = None
    directive_line: int = 0
    copy: _Chunk | None = None


def _split_part(text: str, carry: _Carry, final: bool) -> Generator[_Chunk, None, int]:
    """Give the chunks of ``text``, returning where the undecided rest begins.

    ``final``: the file ends with ``text``. Otherwise what might read differently with the text
    that follows (a statement with no ``;`` yet, an unclosed quote or comment, a last line
    without its newline) is not given: its start is returned and ``carry`` says the rest.
    Nothing before a ``;`` depends on what comes after it, so a chunk given is final.

    Regular expressions jump from one character that matters to the next (``;``, a quote, a
    comment, ``$tag$``): Python only runs per statement and per quote, never per character.
    """
    n = len(text)
    pos = 0
    lines = _Lines(text, carry.line)
    if carry.copy is not None:  # the text goes on with a COPY's data, at the start of a line
        pos, rows, terminated = _copy_rows(text, 0, final)
        copy = replace(carry.copy, copy_rows=carry.copy.copy_rows + rows)
        if not (terminated or final):
            carry.copy = copy
            carry.line = lines.at(pos)
            return pos
        carry.copy = None
        yield replace(copy, complete=terminated)
    directive, directive_line = carry.directive, carry.directive_line
    while True:
        # Between statements: whitespace, comments (a weight comment among them), meta-commands.
        pos = _SPACES.match(text, pos).end()  # type: ignore[union-attr]
        resume = pos
        if pos >= n:
            break
        if text.startswith("--", pos):
            end = text.find("\n", pos)
            if end == -1 and not final:
                break
            end = n if end == -1 else end
            found = _DIRECTIVE.match(text, pos, end)
            if found:
                directive, directive_line = found.group(1), lines.at(pos)
            pos = end
            continue
        if text.startswith("/*", pos):
            end = comment_end(text, pos)
            if end < 0:
                if final:
                    yield _Chunk(text[pos:].strip(), lines.at(n), None, 0, False)
                    resume = n
                break
            pos = end
            continue
        ch = text[pos]
        if ch == "\\":  # a psql meta-command runs to the end of its line
            end = text.find("\n", pos)
            if end == -1 and not final:
                break
            end = n if end == -1 else end
            yield _Chunk(text[pos:end].strip(), lines.at(pos), None, 0, True, meta=True)
            directive = None
            pos = end
            continue
        if ch == ";":
            pos += 1
            directive = None
            continue
        # A statement: from here to its top-level semicolon.
        first_line = lines.at(pos)
        end = _statement_end(text, pos)
        semicolon = 0 <= end < n
        if not (semicolon or final):
            break
        complete = end >= 0
        body = text[pos : end if complete else n].strip()
        chunk: _Chunk | None = None
        if _has_code(body):
            chunk = _Chunk(body, first_line, directive, directive_line, complete)
        after = min(end + 1, n)  # where reading goes on
        # COPY data follows the semicolon, from the next line: a COPY the file ends in has none.
        table = _copy_from_stdin(body) if chunk is not None and semicolon else None
        if table is not None and chunk is not None:
            skipped = _skip_copy_data(text, after, final)
            if skipped is None:
                break  # read again with the line that starts its data
            after, rows, terminated = skipped
            chunk = replace(chunk, copy_table=table, copy_rows=rows, complete=terminated)
            if not (terminated or final):
                carry.copy = chunk
                directive = None
                resume = after
                break
        if chunk is not None:
            yield chunk
        directive = None
        if not complete:
            resume = n
            break
        pos = after
    carry.line = lines.at(resume)
    carry.directive, carry.directive_line = directive, directive_line
    return resume


_SPACES = re.compile(r"[ \t\n\r\f\v]*+")
# What can end or hide a semicolon inside a statement. A ``$`` right after a word character is
# part of a name (``a$b``), not a dollar quote. The lookahead names every first character, so
# the search skips the text between them quickly.
_IN_STATEMENT = re.compile(
    r"(?=[;\-/'\"$])"
    r"(?:(?P<semi>;)|(?P<line>--)|(?P<block>/\*)|(?P<quote>')|(?P<ident>\")"
    r"|(?P<dollar>\$(?<!\w\$)(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*+)?\$))"
)
# The rest of a quote after its opening character, up to its closing one (possessive: a
# doubled quote is never split back into a closing one).
_REST_OF_STRING = re.compile(r"[^']*+(?:''[^']*+)*+'")
_REST_OF_E_STRING = re.compile(r"(?:[^'\\]++|\\.|'')*+'", re.S)
_REST_OF_IDENT = re.compile(r'[^"]*+(?:""[^"]*+)*+"')


def _statement_end(text: str, pos: int) -> int:
    """Index of the top-level ``;`` ending the statement at ``pos``: ``len(text)`` when the text
    ends first, -1 when it ends inside a string, identifier or comment."""
    n = len(text)
    while True:
        found = _IN_STATEMENT.search(text, pos)
        if found is None:
            return n
        kind = found.lastgroup
        at = found.start()
        if kind == "semi":
            return at
        if kind == "line":
            end = text.find("\n", at)
            pos = n if end == -1 else end
            continue
        if kind == "block":
            pos = comment_end(text, at)
        elif kind == "dollar":
            tag = found.group()
            close = text.find(tag, found.end())
            pos = -1 if close == -1 else close + len(tag)
        else:
            if kind == "ident":
                rest = _REST_OF_IDENT
            elif at > 0 and text[at - 1] in "eE" and not (at > 1 and _is_word(text[at - 2])):
                rest = _REST_OF_E_STRING  # E'…': backslash escapes
            else:
                rest = _REST_OF_STRING
            closed = rest.match(text, at + 1)
            pos = -1 if closed is None else closed.end()
        if pos < 0:
            return -1


class _Lines:
    """Line numbers of increasing positions, counted once over the text."""

    __slots__ = ("_line", "_pos", "_text")

    def __init__(self, text: str, line: int = 1) -> None:
        self._text = text
        self._line = line
        self._pos = 0

    def at(self, pos: int) -> int:
        self._line += self._text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line


_NAME = r'(?:"(?:[^"]|"")*"|[^\s("]+)'  # an identifier, quoted or not
_COPY_START = re.compile("COPY", re.I)
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
    if not sql.startswith(("-", "/")) and not _COPY_START.match(sql):
        return None  # the common case, without rewriting the text
    found = _COPY_FROM_STDIN.match(_split_comments(sql).strip())
    return found.group("table") if found else None


def _skip_copy_data(text: str, i: int, final: bool = True) -> tuple[int, int, bool] | None:
    """Skip COPY data from ``i`` (just after its ``;``): it starts on the next line. Returns
    what :func:`_copy_rows` returns; None when the text (not ``final``) ends before that line.
    """
    newline = text.find("\n", i)
    if newline == -1:
        return (len(text), 0, False) if final else None
    return _copy_rows(text, newline + 1, final)


def _copy_rows(text: str, pos: int, final: bool) -> tuple[int, int, bool]:
    """Skip COPY data from ``pos`` (a line start) up to the line ``\\.``.

    The data is never tokenised: rows hold quotes, semicolons and backslashes freely. Returns
    (where reading goes on, data lines skipped, whether ``\\.`` was found). Unless ``final``,
    only whole lines count, and a ``\\.`` line needs its newline (more could follow on it).
    """
    n = len(text)
    end = _END_OF_COPY.search(text, pos)
    if end is not None and (final or end.end() < n):
        return end.end(), text.count("\n", pos, end.start()), True
    if not final:
        last = text.rfind("\n", pos) + 1 or pos  # after the last whole line
        return last, text.count("\n", pos, last), False
    rows = text.count("\n", pos) + (0 if text.endswith("\n") or pos >= n else 1)
    return n, rows, False


_END_OF_COPY = re.compile(r"^\\\.\r*$", re.M)


def _has_code(body: str) -> bool:
    """Whether the text holds more than comments (a statement made only of comments is empty)."""
    if not body.startswith(("-", "/")):  # no comment can start where the stripped text does
        return bool(body)
    return bool(_split_comments(body).strip())


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


def _split_comments(body: str) -> str:
    return _COMMENTS.sub(" ", body)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what the regexes' \w matches
