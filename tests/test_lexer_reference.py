"""The regex lexers against the character loops they replaced, on generated SQL-ish texts.

``tokens`` (statements.py: the fingerprint and the EXPLAIN guard read with it) and ``_split``
(sqlfile.py: where a ``.sql`` file is cut) jump between the characters that matter with
compiled regular expressions. The straightforward loops below are the reference: one
character at a time, PostgreSQL's quoting rules written out. Every text gives the same
tokens, the same problem, the same chunks (lines, weight comments, COPY data, meta-commands),
so the guard reads exactly what it read before. A file is read and split a piece at a time:
cut anywhere, it gives the chunks of the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idxadvisor.sources.sqlfile import (
    _DIRECTIVE,
    _Chunk,
    _copy_from_stdin,
    _decoded_pieces,
    _skip_copy_data,
    _split,
    _split_pieces,
)
from idxadvisor.sql.statements import Token, comment_end, tokens

# -- the reference: the character loops as they were ------------------------------------------
_SPACE = frozenset(" \t\n\r\f\v")


def ref_tokens(text: str) -> tuple[tuple[Token, ...], str]:
    out: list[Token] = []
    n = len(text)
    i = 0
    depth = 0
    if "\x00" in text:
        return (), "contains a NUL character"
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j == -1 else j + 1
            continue
        if text.startswith("/*", i):
            end = ref_comment_end(text, i)
            if end < 0:
                return tuple(out), "unterminated /* comment"
            i = end
            continue
        if ch == "'":
            end = _quote_end(text, i + 1, "'", backslashes=False)
            if end < 0:
                return tuple(out), "unterminated quoted string"
            out.append(Token("string", text[i:end], i, depth))
            i = end
            continue
        if ch == '"':
            end = _quote_end(text, i + 1, '"', backslashes=False)
            if end < 0:
                return tuple(out), "unterminated quoted identifier"
            out.append(Token("ident", text[i:end], i, depth))
            i = end
            continue
        if ch == "$":
            j = i + 1
            while j < n and "0" <= text[j] <= "9":
                j += 1
            if j > i + 1:
                out.append(Token("param", text[i:j], i, depth))
                i = j
                continue
            tag_end = _dollar_tag_end(text, i)
            if tag_end > 0:
                tag = text[i:tag_end]
                close = text.find(tag, tag_end)
                if close < 0:
                    return tuple(out), "unterminated dollar-quoted string"
                out.append(Token("string", text[i : close + len(tag)], i, depth))
                i = close + len(tag)
                continue
            out.append(Token("op", ch, i, depth))
            i += 1
            continue
        if _ident_start(ch):
            j = i + 1
            while j < n and _ident_char(text[j]):
                j += 1
            word = text[i:j]
            quote = text[j] if j < n else ""
            if word in ("e", "E") and quote == "'":
                end = _quote_end(text, j + 1, "'", backslashes=True)
                if end < 0:
                    return tuple(out), "unterminated quoted string"
                out.append(Token("string", text[i:end], i, depth))
                i = end
                continue
            out.append(Token("word", word, i, depth))
            i = j
            continue
        if "0" <= ch <= "9" or (ch == "." and i + 1 < n and "0" <= text[i + 1] <= "9"):
            j = i + 1
            while j < n and (text[j].isascii() and (text[j].isalnum() or text[j] in "._")):
                j += 1
            out.append(Token("number", text[i:j], i, depth))
            i = j
            continue
        if ch == "(":
            out.append(Token("(", ch, i, depth))
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
            out.append(Token(")", ch, i, depth))
        elif ch == ";":
            out.append(Token(";", ch, i, depth))
        else:
            out.append(Token("op", ch, i, depth))
        i += 1
    return tuple(out), ""


def _ident_start(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == "_" or ord(ch) >= 0x80


def _ident_char(ch: str) -> bool:
    return _ident_start(ch) or ("0" <= ch <= "9") or ch == "$"


def _dollar_tag_end(text: str, i: int) -> int:
    j = i + 1
    n = len(text)
    if j < n and _ident_start(text[j]):
        j += 1
        while j < n and (_ident_start(text[j]) or "0" <= text[j] <= "9"):
            j += 1
    return j + 1 if j < n and text[j] == "$" else -1


def _quote_end(text: str, j: int, quote: str, *, backslashes: bool) -> int:
    n = len(text)
    while j < n:
        c = text[j]
        if backslashes and c == "\\":
            j += 2
            continue
        if c == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return -1


def ref_comment_end(text: str, i: int) -> int:
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
    return -1


_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


def ref_split(text: str) -> Iterator[_Chunk]:
    chunks: list[_Chunk] = []
    n = len(text)
    i = 0
    line = 1
    start = 0
    first_line: int | None = None
    directive: str | None = None
    directive_line = 0

    def flush(end: int, complete: bool = True) -> None:
        nonlocal directive, first_line
        body = text[start:end].strip()
        if first_line is not None and bool(_COMMENTS.sub(" ", body).strip()):
            chunks.append(_Chunk(body, first_line, directive, directive_line, complete))
        directive = None
        first_line = None

    while i < n:
        if chunks:
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
            end = ref_comment_end(text, i)
            end = end if end >= 0 else n + 1
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
            if ch == "\\":
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
                i, rows, terminated = ref_skip_copy_data(text, i)
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


def ref_skip_copy_data(text: str, i: int) -> tuple[int, int, bool]:
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


def _quoted_end(text: str, i: int) -> int | None:
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
            return None
        close = text.find(tag.group(), tag.end())
        return n + 1 if close == -1 else close + len(tag.group())
    return None


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


# -- generated texts ---------------------------------------------------------------------------
FRAGMENTS = [
    "SELECT",
    " a",
    " FROM t",
    " WHERE x = ",
    "1",
    ".5",
    "1.e3",
    "$1",
    "$12",
    "$",
    "$$",
    "$q$",
    "$Q1$",
    "$1$",
    "$é$",
    "a$b",
    "x$$",
    "'",
    "''",
    "'a;b'",
    "E'",
    "e'\\''",
    "xe'",
    "_E'",
    "éE'",
    "1e'",
    "\\",
    "\\\\",
    '"',
    '""',
    '"a;b"',
    ";",
    ";;",
    "--",
    "-- c;\n",
    "-",
    "/",
    "/*",
    "*/",
    "**/",
    "/*/",
    "*",
    "(",
    ")",
    ",",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\f",
    "\u00a0",
    "\u2028",
    "\x85",
    "\x1c",
    "\udc80",
    "\U0001f600",
    "é",
    "\x00",
    "-- idxadvisor: calls=3 total_ms=1.5\n",
    "-- IDXADVISOR: calls=2\n",
    "\\timing on\n",
    "\\x\n",
    "COPY t (a) FROM stdin;\n",
    'copy s."T" FROM STDIN',
    "1\t'x';\n",
    "\\.\n",
    "\\.\r\n",
    "\\.",
    "\n\\.\n",
]
piece = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.text(alphabet="'\"$;-/*\\eE_a1 \n\r.()\u00a0é", max_size=8),
    st.text(max_size=4),
)
sqlish = st.lists(piece, max_size=30).map("".join)
PROPERTY = settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EXAMPLES = [
    "SELECT 'a''' ;",
    "SELECT E'a\\';' ; SELECT 2",
    "SELECT $a$ $b$ ; $a$; SELECT 1",
    "/* a /* b */ c */ SELECT 1; /* open",
    "SELECT 1 **/ x; SELECT /*/ x */ 2;",
    "-- idxadvisor: calls=2\n;\nSELECT 1;\n\\x\nSELECT 2",
    "COPY t FROM stdin;\n1;'\n\\.\r\nSELECT 1;\nCOPY u FROM stdin;\nrow",
    "\u00a0-- only a comment\n;\u00a0/* x */ ;\u00a0COPY t FROM stdin;\n\\.\n",
    "SELECT e'\\\\' FROM t WHERE a = x'$$'$$;",
    "COPY t FROM stdin;\n1\n\\.x\n\\.\r\r\nSELECT 1;\n\\timing\n-- idxadvisor: calls=4\nSELECT 2",
]


@given(text=sqlish)
@PROPERTY
def test_tokens_are_those_of_the_character_loop(text: str) -> None:
    assert tokens(text) == ref_tokens(text)


@given(text=sqlish)
@PROPERTY
def test_split_cuts_where_the_character_loop_cut(text: str) -> None:
    assert list(_split(text)) == list(ref_split(text))


@given(text=sqlish, at=st.integers(min_value=0, max_value=40))
@PROPERTY
def test_comment_end_and_copy_data_as_the_loops(text: str, at: int) -> None:
    assert comment_end(text, at) == ref_comment_end(text, at)
    assert _skip_copy_data(text, at) == ref_skip_copy_data(text, at)


@pytest.mark.parametrize("text", EXAMPLES)
def test_hand_picked_edges(text: str) -> None:
    assert tokens(text) == ref_tokens(text)
    assert list(_split(text)) == list(ref_split(text))
    for at in range(len(text)):
        assert comment_end(text, at) == ref_comment_end(text, at)
        assert _skip_copy_data(text, at) == ref_skip_copy_data(text, at)


def _cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@given(text=sqlish, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8))
@PROPERTY
def test_split_of_pieces_is_the_split_of_the_whole(text: str, cuts: list[int]) -> None:
    assert list(_split_pieces(_cut(text, cuts))) == list(ref_split(text))


@pytest.mark.parametrize("text", EXAMPLES)
def test_hand_picked_edges_cut_everywhere(text: str) -> None:
    whole = list(ref_split(text))
    for at in range(len(text) + 1):
        assert list(_split_pieces([text[:at], text[at:]])) == whole
    assert list(_split_pieces(text)) == whole  # one character at a time


@given(data=st.binary(max_size=60) | sqlish.map(lambda t: t.encode("utf-8", "surrogatepass")))
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_a_file_decoded_in_pieces_is_the_file_decoded_whole(
    data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = Path(tmp_path_factory.mktemp("pieces")) / "w.sql"
    path.write_bytes(b"\xef\xbb\xbf" + data)
    whole = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    for size in (1, 2, 3, 7):
        assert "".join(_decoded_pieces(path, size)) == whole
