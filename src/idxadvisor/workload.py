"""The workload: normalised, deduplicated queries with where they come from.

Every capture source (static scan, SQL files, runtime capture, pg_stat_statements) yields
:class:`Statement` objects; :func:`build_workload` folds statements of the same shape into one
:class:`Query` that keeps every origin and adds up calls and time.

SQL convention shared by all stages: PostgreSQL dialect, constants known from the source inlined
as literals (they decide partial indexes), values only known at run time as ``$1``, ``$2`` …

>>> wl = build_workload([
...     Statement("SELECT * FROM t WHERE a = $1", Origin("app/q.py", 3), source="static"),
...     Statement("select *  from t where a = $1", Origin("app/q.py", 9), source="static"),
... ])
>>> len(wl.queries), [str(o) for o in wl.queries[0].origins]
(1, ['app/q.py:3', 'app/q.py:9'])
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import replace

import sqlglot
from sqlglot import exp

from idxadvisor.types.workload import Origin, Query, Skipped, Statement, Workload

_WS = re.compile(r"\s+")

# Deeper than this, sqlglot's recursive parser and printer can reach Python's recursion limit
# (a level costs 10 to 25 frames; the CLI or a test runner sits on top). Django's own SQL stays
# far below: a filter on a sub-query of a sub-query is about 8.
MAX_NESTING = 32
_NESTING_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|[()]", re.S)


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


def _whitespace_normalised(sql: str) -> str:
    return _WS.sub(" ", sql.strip().rstrip(";")).strip()


@functools.lru_cache(maxsize=8192)  # captured workloads repeat the same text many times
def fingerprint(sql: str) -> str:
    """The shape of a statement: parsed and re-printed, placeholder lists collapsed.

    Literals stay: ``status = 'pending'`` and ``status = 'failed'`` are different shapes,
    because they call for different partial indexes. A statement that cannot be parsed (or
    is too deeply nested to) is identified by its text with whitespace normalised; the
    analysis then skips it with the reason.

    >>> fingerprint("select a from t where b in ($1, $2, $3) ")
    'SELECT a FROM t WHERE b IN ($n)'
    >>> fingerprint("SELECT  (((1)))  FROM")
    'SELECT (((1))) FROM'
    """
    if too_deep(sql):
        return _whitespace_normalised(sql)
    try:
        return _fingerprint(sql)
    # sqlglot raises more than ParseError/TokenError on odd input (ValueError, KeyError,
    # IndexError, RecursionError…): one statement's shape never stops the run.
    except Exception:
        return _whitespace_normalised(sql)


def _fingerprint(sql: str) -> str:
    tree = sqlglot.parse_one(sql, read="postgres")
    for node in tree.find_all(exp.In):
        values = node.args.get("expressions") or []
        if values and all(isinstance(v, exp.Placeholder | exp.Parameter) for v in values):
            node.set("expressions", [exp.Parameter(this=exp.var("n"))])
    for node in tree.find_all(exp.Parameter):
        if isinstance(node.this, exp.Literal):
            node.set("this", exp.var("n"))
    for node in tree.find_all(exp.Placeholder):
        node.replace(exp.Parameter(this=exp.var("n")))
    return tree.sql(dialect="postgres")


def query_id(fp: str) -> str:
    """A short id that stays the same across runs for the same shape."""
    return "q_" + hashlib.sha1(fp.encode()).hexdigest()[:8]


def build_workload(
    statements: Iterable[Statement], skipped: Iterable[Skipped] = ()
) -> Workload:
    """Deduplicate statements by fingerprint, keeping all origins, summing calls and time."""
    merged: dict[str, Query] = {}
    origins: dict[str, set[Origin]] = {}
    for st in statements:
        fp = fingerprint(st.sql)
        seen = merged.get(fp)
        if seen is None:
            merged[fp] = Query(
                id=query_id(fp),
                sql=st.sql.strip().rstrip(";").strip(),
                fingerprint=fp,
                source=st.source,
                calls=st.calls,
                total_time_ms=st.total_time_ms,
                model=st.model,
                code=st.code,
            )
            origins[fp] = set()
        else:
            merged[fp] = replace(
                seen,
                calls=seen.calls + st.calls,
                total_time_ms=seen.total_time_ms + st.total_time_ms,
                model=seen.model or st.model,
                code=seen.code or st.code,
            )
        if st.origin is not None:
            origins[fp].add(st.origin)
    queries = [replace(q, origins=tuple(sorted(origins[fp]))) for fp, q in merged.items()]
    queries.sort(key=lambda q: (q.origins[:1] or (Origin("~", 0),), q.id))
    return Workload(tuple(queries), tuple(skipped))
