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
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

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


class Token(NamedTuple):
    """One lexical token: ``word``, ``ident`` (``"…"``), ``string``, ``param``, ``number``,
    ``(``, ``)``, ``;`` or ``op``; ``depth`` is the parenthesis depth it sits at.

    Immutable like the dataclasses between stages, but a tuple: one is made for every token of
    every statement read, and a tuple costs half as much to make.
    """

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
    if "\x00" in text:
        return (), "contains a NUL character"
    out: list[Token] = []
    depth = 0
    pos = 0
    while True:
        for m in _TOKEN.finditer(text, pos):
            group: str = m.lastgroup  # type: ignore[assignment]  # every alternative is named
            kind = _KIND_OF_GROUP[group]
            if kind is None:
                if group == "end":
                    return tuple(out), ""
                if group != "block":  # an opening with no end: the rest is unterminated
                    return tuple(out), _UNTERMINATED[group]
                # Nested (or unclosed) comments are not regular: comment_end counts them.
                pos = comment_end(text, m.start(group))
                if pos < 0:
                    return tuple(out), "unterminated /* comment"
                break  # on after the comment
            if kind == ")":
                depth = max(0, depth - 1)
            out.append(Token(kind, m.group(group), m.start(group), depth))
            if kind == "(":
                depth += 1


# One token per match, whitespace and comments before it included (possessive, so never given
# back): PostgreSQL's scanner rules as in the module docstring. The alternatives are tried in
# order, the common ones first; where two can start with the same character they are ordered
# as the scanner decides (``E'`` before a word, a closed quote before an unclosed one, ``$1``
# before ``$tag$``, all before a lone character). ``.`` (any other character) and ``\Z`` make
# every position match, so ``finditer`` never skips text and always ends with ``end``. A
# simple ``/* */`` is trivia; a nested or unclosed one is ``block``.
_ID_START = "A-Za-z_\x80-\U0010ffff"  # a byte >= 0x80 is a letter for PostgreSQL
_TOKEN = re.compile(
    r"(?:[ \t\n\r\f\v]++|--[^\n]*+\n?|/\*(?:[^*/]++|\*(?!/)|/(?!\*))*+\*/)*+"
    r"(?:(?P<estring>[eE]'(?:[^'\\]++|\\.|'')*+')"
    r"|(?P<open_estring>[eE]')"
    rf"|(?P<word>[{_ID_START}][{_ID_START}0-9$]*+)"
    r"|(?P<string>'[^']*+(?:''[^']*+)*+')"
    r"|(?P<open_string>')"
    r"|(?P<number>(?:[0-9]|\.[0-9])[A-Za-z0-9._]*+)"
    r"|(?P<open>\()"
    r"|(?P<close>\))"
    r"|(?P<param>\$[0-9]++)"
    rf"|(?P<dollar>(?P<tag>\$(?:[{_ID_START}][{_ID_START}0-9]*+)?\$).*?(?P=tag))"
    rf"|(?P<open_dollar>\$(?:[{_ID_START}][{_ID_START}0-9]*+)?\$)"
    r"|(?P<ident>\"[^\"]*+(?:\"\"[^\"]*+)*+\")"
    r"|(?P<open_ident>\")"
    r"|(?P<semi>;)"
    r"|(?P<block>/\*)"
    r"|(?P<op>.)"
    r"|(?P<end>\Z))",
    re.S,
)
_KIND_OF_GROUP: dict[str, str | None] = {
    "block": None,
    "string": "string",
    "open_string": None,
    "ident": "ident",
    "open_ident": None,
    "param": "param",
    "dollar": "string",
    "open_dollar": None,
    "estring": "string",
    "open_estring": None,
    "word": "word",
    "number": "number",
    "open": "(",
    "close": ")",
    "semi": ";",
    "op": "op",
    "end": None,
}
_UNTERMINATED = {
    "open_string": "unterminated quoted string",
    "open_estring": "unterminated quoted string",
    "open_ident": "unterminated quoted identifier",
    "open_dollar": "unterminated dollar-quoted string",
}


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


def comment_end(text: str, i: int) -> int:
    """Index after the ``*/`` closing the (nestable) comment at ``i``; -1 when unclosed."""
    depth = 0
    for mark in _COMMENT_MARK.finditer(text, i):
        if mark.group() == "/*":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return mark.end()
    return -1


_COMMENT_MARK = re.compile(r"/\*|\*/")
