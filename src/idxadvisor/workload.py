"""The workload: normalised, deduplicated queries with where they come from.

Every capture source (static scan, SQL files, runtime capture, pg_stat_statements) yields
:class:`Statement` objects; :func:`build_workload` folds statements of the same shape into one
:class:`Query` that keeps every origin and adds up calls and time.

SQL convention shared by all stages: PostgreSQL dialect, constants known from the source inlined
as literals (they decide partial indexes), values only known at run time as ``$1``, ``$2`` …

Literal variants: the shape of a statement is its lexed skeleton
(:mod:`idxadvisor.sql.fingerprint`). For ``.sql`` files and ``pg_stat_statements`` a literal that
varies across the statements of one skeleton is a runtime value and becomes a parameter; one that
never varies stays a constant.
Static and captured statements hold only the code's constants, so their literals always stay.
The same ``path:line`` found by two sources is one origin.

>>> wl = build_workload([
...     Statement("SELECT * FROM t WHERE a = $1", Origin("app/q.py", 3), source="static"),
...     Statement("select *  from t where a = $1", Origin("app/q.py", 9), source="static"),
... ])
>>> len(wl.queries), [str(o) for o in wl.queries[0].origins]
(1, ['app/q.py:3', 'app/q.py:9'])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from idxadvisor.sql.fingerprint import (  # re-exported: the names' home moved to sql/
    MAX_NESTING,
    Shape,
    fingerprint,
    nesting_depth,
    query_id,
    shape,
    shape_once,
    too_deep,
    too_deep_reason,
    varying,
)
from idxadvisor.types.workload import Origin, Query, Skipped, Statement, Workload

__all__ = [
    "MAX_NESTING",
    "build_workload",
    "fingerprint",
    "nesting_depth",
    "query_id",
    "too_deep",
    "too_deep_reason",
]

# Sources whose texts hold runtime values as literals (a log, a hand-written file).
_FOLDING_SOURCES = frozenset({"sql", "pg_stat_statements"})
# A workload file's lines kept as origins of one query; the rest are counted. Code call sites
# (static scan, capture) are all kept: `check` matches them against the changed files.
MAX_FILE_ORIGINS = 100


@dataclass(slots=True)
class _Group:
    """The statements of one shape seen so far: the first one and its shape, totals, origins."""

    first: Statement
    shape: Shape
    calls: int = 0
    total_time_ms: float = 0.0
    model: str | None = None
    code: str | None = None
    varies: set[int] = field(default_factory=set)
    origins: dict[tuple[str, int], Origin] = field(default_factory=dict)
    left_out: int = 0

    def add(self, st: Statement, literals: tuple[str, ...]) -> None:
        self.calls += st.calls
        self.total_time_ms += st.total_time_ms
        self.model = self.model or st.model
        self.code = self.code or st.code
        if len(self.varies) < len(literals):  # once every slot varies there is nothing to learn
            self.varies.update(varying(self.shape.literals, literals))
        if st.origin is not None:
            capped = st.source in _FOLDING_SOURCES
            self.left_out += _add_origin(self.origins, st.origin, capped=capped)


def _add_origin(
    origins: dict[tuple[str, int], Origin], origin: Origin, *, capped: bool = False
) -> int:
    """One origin per ``path:line``; the one saying more (column, function) is kept. A
    ``capped`` one (a workload file's line) is only counted once ``MAX_FILE_ORIGINS`` are
    kept: 1 when so, else 0."""
    key = (origin.path, origin.line)
    seen = origins.get(key)
    if seen is None and capped and len(origins) >= MAX_FILE_ORIGINS:
        return 1
    if seen is None or (not seen.col and not seen.function and (origin.col or origin.function)):
        origins[key] = origin
    return 0


def build_workload(statements: Iterable[Statement], skipped: Iterable[Skipped] = ()) -> Workload:
    """Deduplicate statements by shape, keeping their origins, summing calls and time.

    ``statements`` is read once, as it comes (a generator is fine): memory grows with the
    distinct shapes, not with the statements (of a workload file's lines, the first
    ``MAX_FILE_ORIGINS`` of each query are kept and the rest counted).

    >>> wl = build_workload([
    ...     Statement(f"SELECT * FROM t WHERE kind = 'a' AND id = {i}", Origin("w.sql", i))
    ...     for i in range(1, 4)])
    >>> [(q.sql, len(q.origins)) for q in wl.queries]
    [("SELECT * FROM t WHERE kind = 'a' AND id = $1", 3)]
    >>> wl = build_workload([Statement("SELECT 1 FROM t", Origin("a.py", 3, 4), "static"),
    ...                      Statement("SELECT 1 FROM t", Origin("a.py", 3), "capture")])
    >>> [str(o) for o in wl.queries[0].origins], wl.queries[0].origins[0].col
    (['a.py:3'], 4)
    """
    groups: dict[tuple[bool, str], _Group] = {}
    for st in statements:
        # A runtime source's texts are mostly seen once (each its own values): not cached.
        runtime = st.source in _FOLDING_SOURCES
        s = shape_once(st.sql) if runtime else shape(st.sql)
        key = (True, s.skeleton) if runtime and s.literals else (False, s.render())
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(st, s)
        group.add(st, s.literals)
    merged: dict[str, Query] = {}
    origins: dict[str, dict[tuple[str, int], Origin]] = {}
    left_out: dict[str, int] = {}
    for group in groups.values():
        s = group.shape
        folded = frozenset(group.varies)
        fp = s.render(folded)
        seen = merged.get(fp)
        if seen is None:
            merged[fp] = Query(
                id=query_id(fp),
                sql=s.folded_text(folded),
                fingerprint=fp,
                source=group.first.source,
                calls=group.calls,
                total_time_ms=group.total_time_ms,
                model=group.model,
                code=group.code,
            )
            origins[fp] = dict(group.origins)
            left_out[fp] = group.left_out
            continue
        # Two groups with one identity: a folded .sql shape equal to a static one.
        merged[fp] = replace(
            seen,
            calls=seen.calls + group.calls,
            total_time_ms=seen.total_time_ms + group.total_time_ms,
            model=seen.model or group.model,
            code=seen.code or group.code,
        )
        left_out[fp] += group.left_out
        capped = group.first.source in _FOLDING_SOURCES
        for origin in group.origins.values():
            left_out[fp] += _add_origin(origins[fp], origin, capped=capped)
    queries = [
        replace(q, origins=tuple(sorted(origins[fp].values())), origins_left_out=left_out[fp])
        for fp, q in merged.items()
    ]
    queries.sort(key=lambda q: (q.origins[:1] or (Origin("~", 0),), q.id))
    return Workload(tuple(queries), tuple(skipped))
