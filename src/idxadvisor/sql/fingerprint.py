"""The shape of a statement, read with the lexer: what makes two texts one query.

A statement is lexed once (:func:`idxadvisor.sql.statements.tokens`, no parse) into a
*skeleton* — keywords in upper case, whitespace and comments gone, ``$1``/``%s`` parameters as
``$n``, a list of parameters as one ``$n`` — with a slot for each literal, and the literals
themselves. Texts with the same skeleton and the same literals are one query:

>>> fingerprint("select a from t where b in ($1, $2, $3) ")
'SELECT a FROM t WHERE b IN ($n)'
>>> fingerprint("SELECT * FROM t WHERE status = 'pending' -- a comment") == fingerprint(
...     "select *\\n from t where status='pending'")
True

Which literals fold (a runtime value) and which stay (a constant that may decide a partial
index) depends on where the text comes from:

* static scan and runtime capture already inline only the constants written in the code and
  write every runtime value as ``$n``: their literals all stay;
* for ``.sql`` files and ``pg_stat_statements`` a literal is a runtime value when it *varies*
  across the statements of one skeleton; one that never varies stays. :class:`Folder` decides
  that over the whole workload (memory grows with the distinct skeletons, not the statements):

>>> f = Folder()
>>> for user in range(3):
...     f.add(f"SELECT * FROM hook WHERE status = 'pending' AND user_id = {user}")
>>> f.folded("SELECT * FROM hook WHERE status = 'pending' AND user_id = 0")
"SELECT * FROM hook WHERE status = 'pending' AND user_id = $1"

Not folded, ever: ``ORDER BY``/``GROUP BY`` ordinals (``ORDER BY 1`` names a column) and a
literal written after a type name (``DATE '2024-01-01'``: ``DATE $1`` is no SQL).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from idxadvisor.sql.literals import number_placeholders
from idxadvisor.sql.statements import Token, tokens

__all__ = [
    "MAX_NESTING",
    "Folder",
    "Shape",
    "fingerprint",
    "nesting_depth",
    "query_id",
    "shape",
    "shape_once",
    "too_deep",
    "too_deep_reason",
    "varying",
]

# Deeper than this, sqlglot's recursive parser and printer can reach Python's recursion limit
# (a level costs 10 to 25 frames; the CLI or a test runner sits on top). Django's own SQL stays
# far below: a filter on a sub-query of a sub-query is about 8.
MAX_NESTING = 32
_NESTING_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|[()]", re.S)
_WS = re.compile(r"\s+")
SLOT = "\x00"  # a literal's place in a skeleton; the lexer refuses NUL, so no text holds one

# A string after one of these is a typed literal (DATE '…'): it cannot become DATE $1.
_TYPE_WORDS = frozenset(
    """DATE TIME TIMESTAMP TIMESTAMPTZ TIMETZ INTERVAL NUMERIC DECIMAL INT INTEGER BIGINT
    SMALLINT REAL FLOAT DOUBLE PRECISION TEXT VARCHAR CHAR CHARACTER VARYING BOOLEAN BOOL JSON
    JSONB UUID INET CIDR BYTEA MONEY POINT XML BIT""".split()  # noqa: SIM905
)
# Printed in upper case in a skeleton (any other word is a name, printed in lower case).
_KEYWORDS = (
    frozenset(
        """SELECT FROM WHERE AND OR NOT IN IS NULL TRUE FALSE AS ON JOIN LEFT RIGHT INNER OUTER FULL
    CROSS LATERAL USING GROUP BY ORDER ASC DESC NULLS FIRST LAST LIMIT OFFSET FETCH NEXT ROWS
    ONLY HAVING DISTINCT UNION ALL INTERSECT EXCEPT WITH RECURSIVE INSERT INTO VALUES UPDATE SET
    DELETE RETURNING DEFAULT CASE WHEN THEN ELSE END EXISTS BETWEEN LIKE ILIKE ESCAPE SIMILAR TO
    ANY SOME CAST FOR SHARE NOWAIT SKIP LOCKED OF CONFLICT DO NOTHING MERGE MATCHED AT TIME ZONE
    INTERVAL COUNT SUM MIN MAX AVG COALESCE UPPER LOWER OVER PARTITION WINDOW FILTER ARRAY
    """.split()  # noqa: SIM905
    )
    | _TYPE_WORDS
)
# Words that end an ORDER BY / GROUP BY list (after them a number is a value again).
_BY_LIST_END = frozenset(
    {
        "LIMIT",
        "OFFSET",
        "HAVING",
        "WINDOW",
        "FOR",
        "FETCH",
        "UNION",
        "INTERSECT",
        "EXCEPT",
        "RETURNING",
        "WHERE",
        "FROM",
        "SELECT",
        "ON",
    }
)


def nesting_depth(sql: str) -> int:
    """How deeply parentheses nest in ``sql``, not counting those in strings and comments.

    >>> nesting_depth("SELECT * FROM (SELECT * FROM t WHERE a IN (1, 2)) s WHERE b = '(('")
    2
    """
    depth = deepest = 0
    for token in _NESTING_TOKENS.finditer(sql):
        if token.group() == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif token.group() == ")":
            depth = max(depth - 1, 0)
    return deepest


def too_deep(sql: str) -> str | None:
    """The reason a statement is too deeply nested to analyse, or None when it is not.

    Checked before parsing, so the parser never runs into the interpreter's limit.

    >>> too_deep("SELECT 1") is None
    True
    >>> too_deep("SELECT " + "(" * 60 + "1" + ")" * 60)
    'too deeply nested for analysis (60 levels of parentheses; the limit is 32)'
    """
    if sql.count("(") <= MAX_NESTING:  # cheap: most texts cannot nest that deep at all
        return None
    depth = nesting_depth(sql)
    if depth > MAX_NESTING:
        return (
            f"too deeply nested for analysis ({depth} levels of parentheses; "
            f"the limit is {MAX_NESTING})"
        )
    return None


def too_deep_reason(stage: str) -> str:
    """The one-line reason for a statement whose ``stage`` ran out of recursion depth."""
    return f"too deeply nested for analysis (Python's recursion limit reached while {stage})"


@dataclass(frozen=True, slots=True)
class Shape:
    """A text cut into its skeleton and literals.

    ``spans`` are the literals' ``(start, end)`` in the text the shape was taken from (after
    ``%s`` numbering: :attr:`text`); ``params`` is the highest ``$n`` number it uses.
    """

    skeleton: str
    literals: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    text: str = ""
    params: int = 0

    def render(self, folded: frozenset[int] = frozenset()) -> str:
        """The skeleton with each literal in its slot, or ``$n`` for the ``folded`` slots.

        >>> shape("SELECT 1 FROM t WHERE a = 'x' AND b = 2").render(frozenset({2}))
        "SELECT 1 FROM t WHERE a = 'x' AND b = $n"
        """
        if not self.literals:
            return self.skeleton
        parts = self.skeleton.split(SLOT)
        out = [parts[0]]
        for i, literal in enumerate(self.literals):
            out.append("$n" if i in folded else literal)
            out.append(parts[i + 1])
        return "".join(out)

    def folded_text(self, folded: frozenset[int]) -> str:
        """The original text with the ``folded`` literals replaced by new parameters."""
        if not folded:
            return self.text
        out: list[str] = []
        pos = 0
        number = self.params
        for i, (start, end) in enumerate(self.spans):
            if i in folded:
                number += 1
                out.append(self.text[pos:start])
                out.append(f"${number}")
                pos = end
        out.append(self.text[pos:])
        return "".join(out)


@functools.lru_cache(maxsize=65536)  # workloads repeat texts; the cache is by text
def shape(sql: str) -> Shape:
    """The :class:`Shape` of one statement text (``%s`` placeholders numbered first).

    A text the lexer cannot read (an unterminated quote) is its own skeleton, whitespace
    normalised, with no literals: the analysis skips it later with the reason.

    >>> s = shape("SELECT * FROM t WHERE a = 'x' ORDER BY 1 LIMIT 10")
    >>> s.literals, s.skeleton.count(SLOT)
    (("'x'", '10'), 2)
    """
    text = number_placeholders(sql.strip())
    while text.endswith(";"):
        text = text[:-1].rstrip()
    toks, problem = tokens(text)
    if problem:
        return Shape(_WS.sub(" ", text).strip(), text=text)
    out: list[str] = []
    literals: list[str] = []
    spans: list[tuple[int, int]] = []
    params = 0
    by_depth: int | None = None  # inside an ORDER BY / GROUP BY list at this depth
    prev: Token | None = None
    i = 0
    n = len(toks)
    while i < n:
        token = toks[i]
        kind, raw, start, depth = token
        # A space between two tokens, but not inside ``(…)`` edges, before ``,``, around ``.``,
        # nor between operator characters written together (``<=``, ``->>``).
        if prev is not None and not (
            prev.kind == "("
            or kind == ")"
            or raw in (",", ".")
            or prev.text == "."
            or (prev.kind == "op" and kind == "op" and prev.start + len(prev.text) == start)
        ):
            out.append(" ")
        if kind == "word":
            # ASCII-only upper case, as PostgreSQL folds keywords
            word = raw.upper() if raw.isascii() else token.upper
            if word == "BY":
                by_depth = depth
            elif by_depth is not None and word in _BY_LIST_END:
                by_depth = None
            # Unquoted names fold to lower case in PostgreSQL; keywords print in upper case.
            out.append(word if word in _KEYWORDS else word.lower())
        elif kind == "param":
            params = max(params, int(raw[1:]))
            # A list of parameters is one parameter: IN ($1, $2) and IN ($1) are one shape.
            j = i
            if prev is not None and prev.kind == "(":
                while j + 2 < n and toks[j + 1].text == "," and toks[j + 2].kind == "param":
                    j += 2
                    params = max(params, int(toks[j].text[1:]))
                if j + 1 < n and toks[j + 1].kind == ")":
                    i = j
                else:
                    j = i
            out.append("$n")
        elif kind in ("string", "number"):
            before = prev.text.upper() if prev is not None and prev.kind == "word" else ""
            ordinal = (
                kind == "number"
                and by_depth is not None
                and prev is not None
                and (before == "BY" or prev.text == ",")
            )
            typed = kind == "string" and before in _TYPE_WORDS
            if ordinal or typed:
                out.append(raw)
            else:
                literals.append(raw)
                spans.append((start, start + len(raw)))
                out.append(SLOT)
        else:
            if kind == ")" and by_depth is not None and depth < by_depth:
                by_depth = None
            out.append(raw)
        prev = toks[i]
        i += 1
    return Shape("".join(out), tuple(literals), tuple(spans), text, params)


def shape_once(sql: str) -> Shape:
    """:func:`shape` without its cache, for a text seen once (a log's literal variants): cached,
    such texts would only fill the cache, memory growing with the statements read.

    >>> shape_once("SELECT 1 FROM t WHERE a = 2") == shape("SELECT 1 FROM t WHERE a = 2")
    True
    """
    return shape.__wrapped__(sql)


def fingerprint(sql: str) -> str:
    """The identity of a statement with every literal kept (see the module docstring).

    >>> fingerprint("SELECT  (((1)))  FROM")
    'SELECT (((1))) FROM'
    """
    return shape(sql).render()


def query_id(fp: str) -> str:
    """A short id that stays the same across runs for the same shape."""
    return "q_" + hashlib.sha1(fp.encode()).hexdigest()[:8]


@dataclass(slots=True)
class _Seen:
    literals: tuple[str, ...]
    varies: set[int] = field(default_factory=set)


class Folder:
    """Which literal slots vary across the statements of each skeleton.

    :meth:`add` every statement of the run first, then :meth:`folded` gives a statement's
    text with its varying literals as parameters. Memory: one entry per distinct skeleton.
    """

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def add(self, sql: str) -> None:
        s = shape(sql)
        if not s.literals:
            return
        seen = self._seen.get(s.skeleton)
        if seen is None:
            self._seen[s.skeleton] = _Seen(s.literals)
            return
        if len(seen.varies) < len(s.literals):  # once every slot varies there is nothing to learn
            seen.varies.update(varying(seen.literals, s.literals))

    def fingerprint(self, sql: str) -> str:
        """The identity of ``sql`` with its varying literals folded."""
        s = shape(sql)
        return s.render(self._slots(s))

    def folded(self, sql: str) -> str:
        """``sql`` with its varying literals replaced by new ``$n`` parameters."""
        s = shape(sql)
        return s.folded_text(self._slots(s))

    def _slots(self, s: Shape) -> frozenset[int]:
        seen = self._seen.get(s.skeleton) if s.literals else None
        return frozenset(seen.varies) if seen is not None else frozenset()


def varying(first: tuple[str, ...], other: tuple[str, ...]) -> Iterator[int]:
    """The slots where two statements of one skeleton hold different literals.

    >>> list(varying(("'a'", "1", "2"), ("'a'", "3", "2")))
    [1]
    """
    if first != other:
        yield from (i for i, (a, b) in enumerate(zip(first, other, strict=True)) if a != b)
