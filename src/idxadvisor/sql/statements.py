"""What kind of statement a text is, and whether it is exactly one: the one home for that.

Workload texts come from capture files written by test runs of code anyone can change, from
``.sql`` files and from ``pg_stat_statements`` (any client's text): every one is hostile until
checked. :func:`classify` lexes a text the way PostgreSQL's scanner does — ``'…'`` strings with
``''`` inside, ``E'…'`` strings with backslash escapes, ``"…"`` identifiers, ``$tag$…$tag$``
dollar quotes, ``$1`` parameters, ``--`` and nested ``/* */`` comments — counts the top-level
statements (every ``;`` outside quotes and comments ends one, as the server's grammar does), and
says what the first one is.

>>> info = classify("SELECT 1 FROM t WHERE note = 'a;b' LIMIT 10; COMMIT; BEGIN READ WRITE")
>>> info.statements, info.kind.value, info.single
(3, 'select', False)
>>> classify("/* x; */ WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d").modifying_cte
True
>>> classify("SELECT $q$;$q$ -- ; \\n").statements
1

:func:`explain_refusal` is the guard every statement passes before it is sent to PostgreSQL
for EXPLAIN (``analyze=False``: one SELECT/INSERT/UPDATE/DELETE/MERGE; EXPLAIN without ANALYZE
executes nothing) or EXPLAIN ANALYZE (``analyze=True``: one plain SELECT — no data-modifying
``WITH``, no ``FOR UPDATE``/``SHARE``, no ``SELECT … INTO``):

>>> explain_refusal("SELECT 1; DELETE FROM t")
'2 statements in one text (only a single statement is ever sent)'
>>> explain_refusal("UPDATE t SET a = 1", analyze=True)
'an update statement is never executed (EXPLAIN ANALYZE runs a plain SELECT only)'
>>> explain_refusal("SELECT * FROM t WHERE a = $1", analyze=True) is None
True

Calls of volatile functions (``pg_terminate_backend(…)``, ``nextval``, ``dblink_exec``) are out of
scope here: the READ ONLY transaction refuses the writes among them, not this lexer.
The lexer assumes ``standard_conforming_strings = on`` (the default since PostgreSQL 9.1);
:func:`idxadvisor.live.connection.connect_readonly` sets it so server and lexer agree.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "EXPLAINABLE",
    "Kind",
    "RefusedStatement",
    "StatementInfo",
    "Token",
    "classify",
    "explain_refusal",
    "is_create_index",
    "require_explainable",
    "split_statements",
    "tokens",
]


class Kind(StrEnum):
    """What a statement does, by its leading keyword (``WITH`` by its main statement)."""

    SELECT = "select"
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    MERGE = "merge"
    DDL = "ddl"
    TRANSACTION = "transaction-control"
    COPY = "copy"
    UTILITY = "utility"
    OTHER = "other"
    EMPTY = "empty"


# Marks the tool's own statements, so pg_stat_statements readers can leave them out.
TOOL_MARK = "/* idxadvisor */"

EXPLAINABLE = frozenset({Kind.SELECT, Kind.INSERT, Kind.UPDATE, Kind.DELETE, Kind.MERGE})

_BY_WORD: dict[str, Kind] = {
    "SELECT": Kind.SELECT,
    "VALUES": Kind.SELECT,
    "TABLE": Kind.SELECT,
    "INSERT": Kind.INSERT,
    "UPDATE": Kind.UPDATE,
    "DELETE": Kind.DELETE,
    "MERGE": Kind.MERGE,
    "COPY": Kind.COPY,
    **dict.fromkeys(
        (
            "CREATE",
            "ALTER",
            "DROP",
            "TRUNCATE",
            "COMMENT",
            "GRANT",
            "REVOKE",
            "REINDEX",
            "CLUSTER",
            "REFRESH",
            "SECURITY",
            "IMPORT",
        ),
        Kind.DDL,
    ),
    **dict.fromkeys(
        ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"),
        Kind.TRANSACTION,
    ),
    **dict.fromkeys(
        (
            "SET",
            "RESET",
            "SHOW",
            "VACUUM",
            "ANALYZE",
            "ANALYSE",
            "LOCK",
            "DO",
            "CALL",
            "LISTEN",
            "NOTIFY",
            "UNLISTEN",
            "PREPARE",
            "EXECUTE",
            "DEALLOCATE",
            "DISCARD",
            "EXPLAIN",
            "FETCH",
            "MOVE",
            "CLOSE",
            "DECLARE",
            "CHECKPOINT",
            "LOAD",
            "REASSIGN",
        ),
        Kind.UTILITY,
    ),
}
_MAIN_AFTER_WITH = frozenset({"SELECT", "VALUES", "TABLE", "INSERT", "UPDATE", "DELETE", "MERGE"})
_MODIFYING = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
_LOCK_STRENGTH = frozenset({"UPDATE", "SHARE", "NO", "KEY"})
_SPACE = frozenset(" \t\n\r\f\v")  # PostgreSQL's whitespace; U+00A0 is an identifier character


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: ``word``, ``ident`` (``"…"``), ``string``, ``param``, ``number``,
    ``(``, ``)``, ``;`` or ``op``; ``depth`` is the parenthesis depth it sits at."""

    kind: str
    text: str
    start: int
    depth: int

    @property
    def upper(self) -> str:
        """The word in upper case, ASCII only (PostgreSQL folds keywords that way)."""
        return _ascii_upper(self.text) if self.kind == "word" else ""


@dataclass(frozen=True, slots=True)
class StatementInfo:
    """What :func:`classify` found. ``kind`` and the flags describe the first statement."""

    statements: int  # non-empty top-level statements
    kind: Kind
    keyword: str = ""  # its first keyword, upper case ("WITH" for a CTE)
    words: tuple[str, ...] = ()  # its first (up to 4) keywords, e.g. ("CREATE", "INDEX", …)
    modifying_cte: bool = False  # WITH x AS (INSERT/UPDATE/DELETE/MERGE …)
    locking: bool = False  # FOR UPDATE / FOR SHARE / FOR NO KEY UPDATE / FOR KEY SHARE
    into: bool = False  # SELECT … INTO creates a table
    problem: str = ""  # why it cannot be lexed (unterminated quote or comment, NUL)

    @property
    def single(self) -> bool:
        """Exactly one statement, lexed cleanly."""
        return self.statements == 1 and not self.problem

    @property
    def plain_select(self) -> bool:
        """One SELECT that neither writes, nor locks rows, nor creates a table."""
        return (
            self.single
            and self.kind is Kind.SELECT
            and not self.modifying_cte
            and not self.locking
            and not self.into
        )


class RefusedStatement(ValueError):
    """A statement that must not be sent to the server; ``str()`` is the one-line reason."""


def tokens(text: str) -> tuple[tuple[Token, ...], str]:
    """The tokens of ``text`` (comments and whitespace dropped) and a problem ("" when none).

    >>> toks, problem = tokens("SELECT E'it\\\\'s;' AS \\"a;b\\" /* /* ; */ */ FROM t")
    >>> [t.kind for t in toks], problem
    (['word', 'string', 'word', 'ident', 'word', 'word'], '')
    >>> tokens("SELECT 'open")[1]
    'unterminated quoted string'
    """
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
            end = comment_end(text, i)
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


def split_statements(text: str) -> tuple[str, ...]:
    """The non-empty top-level statements of ``text``, as written (comments inside kept).

    >>> split_statements("SELECT ';'; ;/* only a comment */; DO $$BEGIN; END$$")
    ("SELECT ';'", 'DO $$BEGIN; END$$')
    """
    toks, _ = tokens(text)
    return tuple(text[g[0].start : _token_end(text, g[-1])] for g in _groups(toks))


def classify(text: str) -> StatementInfo:
    """Count the statements of ``text`` and describe the first one.

    >>> classify("(SELECT a FROM t) UNION (SELECT b FROM u) FOR UPDATE").locking
    True
    >>> c = classify("create unique index concurrently i on t (a)")
    >>> c.kind.value, c.words
    ('ddl', ('CREATE', 'UNIQUE', 'INDEX', 'CONCURRENTLY'))
    >>> classify("  -- nothing\\n ; ").kind.value
    'empty'
    """
    toks, problem = tokens(text)
    groups = _groups(toks)
    if not groups:
        return StatementInfo(0, Kind.EMPTY, problem=problem)
    first = groups[0]
    words = [t for t in first if t.kind == "word"]
    lead = next((t for t in first if t.kind != "("), None)
    if lead is None or lead.kind != "word":
        return StatementInfo(len(groups), Kind.OTHER, problem=problem)
    keyword = lead.upper
    kind = _BY_WORD.get(keyword, Kind.OTHER)
    if keyword == "WITH":
        main = next(
            (t.upper for t in first if t.depth == lead.depth and t.upper in _MAIN_AFTER_WITH), ""
        )
        kind = _BY_WORD.get(main, Kind.OTHER)
    elif keyword == "PREPARE" and len(words) > 1 and words[1].upper == "TRANSACTION":
        kind = Kind.TRANSACTION
    # Conservative on purpose: a modifying keyword right after "(" anywhere, or FOR UPDATE in
    # any sub-select, marks the statement, so doubt is always on the side of not executing.
    modifying = any(
        prev.kind == "(" and t.upper in _MODIFYING for prev, t in itertools.pairwise(first)
    )
    locking = any(
        t.upper == "FOR" and nxt.upper in _LOCK_STRENGTH for t, nxt in itertools.pairwise(first)
    )
    into = kind is Kind.SELECT and any(t.upper == "INTO" for t in first)
    return StatementInfo(
        len(groups),
        kind,
        keyword,
        tuple(w.upper for w in words[:4]),
        modifying_cte=modifying,
        locking=locking,
        into=into,
        problem=problem,
    )


def explain_refusal(text: str, *, analyze: bool = False) -> str | None:
    """Why ``text`` must not be sent for EXPLAIN (``analyze``: EXPLAIN ANALYZE), or None.

    >>> explain_refusal("COPY t TO PROGRAM 'sh'")
    'a copy statement (COPY) is not explained: only SELECT/INSERT/UPDATE/DELETE/MERGE are'
    >>> explain_refusal("WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d", analyze=True)
    'a data-modifying WITH (INSERT/UPDATE/DELETE/MERGE) is never executed'
    """
    info = classify(text)
    if info.problem:
        return info.problem
    if info.statements == 0:
        return "empty statement"
    if info.statements > 1:
        return f"{info.statements} statements in one text (only a single statement is ever sent)"
    if info.kind not in EXPLAINABLE:
        return (
            f"a {info.kind.value} statement ({info.keyword or '?'}) is not explained: "
            "only SELECT/INSERT/UPDATE/DELETE/MERGE are"
        )
    if info.into:
        return "SELECT … INTO creates a table: not explained"
    if not analyze:
        return None
    if info.kind is not Kind.SELECT:
        article = "an" if info.kind.value[0] in "aeiou" else "a"
        return (
            f"{article} {info.kind.value} statement is never executed "
            "(EXPLAIN ANALYZE runs a plain SELECT only)"
        )
    if info.modifying_cte:
        return "a data-modifying WITH (INSERT/UPDATE/DELETE/MERGE) is never executed"
    if info.locking:
        return "SELECT … FOR UPDATE/SHARE locks rows: never executed"
    return None


def require_explainable(text: str, *, analyze: bool = False) -> StatementInfo:
    """:func:`classify` ``text``, raising :class:`RefusedStatement` when it must not be sent.

    >>> require_explainable("SELECT 1; SELECT 2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    idxadvisor.sql.statements.RefusedStatement: 2 statements in one text ...
    """
    reason = explain_refusal(text, analyze=analyze)
    if reason is not None:
        raise RefusedStatement(reason)
    return classify(text)


def is_create_index(text: str) -> bool:
    """Exactly one ``CREATE [UNIQUE] INDEX`` statement.

    >>> is_create_index('CREATE INDEX "i" ON "t" ("a")')
    True
    >>> is_create_index("CREATE INDEX i ON t (a); DROP TABLE t")
    False
    """
    info = classify(text)
    words = [w for w in info.words if w != "UNIQUE"]
    return info.single and words[:2] == ["CREATE", "INDEX"]


# -- lexer helpers ---------------------------------------------------------------------------
def _groups(toks: tuple[Token, ...]) -> list[tuple[Token, ...]]:
    groups: list[tuple[Token, ...]] = []
    current: list[Token] = []
    for t in toks:
        if t.kind == ";":
            if current:
                groups.append(tuple(current))
            current = []
        else:
            current.append(t)
    if current:
        groups.append(tuple(current))
    return groups


def _token_end(text: str, token: Token) -> int:
    return token.start + len(token.text)


def _ascii_upper(word: str) -> str:
    if word.isascii():  # the common case, without a generator per character
        return word.upper()
    return "".join(c.upper() if c.isascii() else c for c in word)


def _ident_start(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == "_" or ord(ch) >= 0x80


def _ident_char(ch: str) -> bool:
    return _ident_start(ch) or ("0" <= ch <= "9") or ch == "$"


def _dollar_tag_end(text: str, i: int) -> int:
    """Index after the ``$tag$`` opening at ``i`` (``$$`` included); -1 when none opens there."""
    j = i + 1
    n = len(text)
    if j < n and _ident_start(text[j]):
        j += 1
        while j < n and (_ident_start(text[j]) or "0" <= text[j] <= "9"):
            j += 1
    return j + 1 if j < n and text[j] == "$" else -1


def _quote_end(text: str, j: int, quote: str, *, backslashes: bool) -> int:
    """Index after the closing ``quote`` (doubled quotes stay inside); -1 when unclosed."""
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


def comment_end(text: str, i: int) -> int:
    """Index after the ``*/`` closing the (nestable) comment at ``i``; -1 when unclosed."""
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
