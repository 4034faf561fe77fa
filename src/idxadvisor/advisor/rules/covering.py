"""Covering indexes: ``INCLUDE`` the few other columns a query reads, for index-only scans.

Django reads every column by default, so this only fires for ``values()``, ``values_list()``,
aggregates and the like — never for a full model fetch, however narrow the table: that index
would be a second copy of it. A handful of small extra columns is cheap to carry in the leaf
pages; beyond three the index grows toward a copy of the table. Text, JSON, bytea and unbounded
varchar columns are never included: a B-tree entry over about 2.7 kB makes the INSERT fail.
The column types must be known (a model or the catalog); with SQL alone nothing is included.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.access import AccessPattern
>>> from idxadvisor.types.schema import Column, IndexElement, Table
>>> log = Table("log", (Column("id", "id", "bigint"), Column("organisation", "", "varchar(64)"),
...     Column("integration", "", "varchar(32)"), Column("message", "", "text")))
>>> c = IndexCandidate("log", (IndexElement("organisation"),))
>>> p = AccessPattern("q1", "log", "select", selected=("organisation", "integration"))
>>> covering(c, p, log).include
('integration',)
>>> p = AccessPattern("q2", "log", "select", selected=("organisation", "message"))
>>> covering(c, p, log).include
()
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from idxadvisor.advisor.methods import method
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Table, declared_length

MAX_INCLUDE = 3
# Types whose values are small and bounded: safe to carry in every index entry.
_SMALL_TYPES = (
    "smallint",
    "integer",
    "bigint",
    "serial",
    "bigserial",
    "boolean",
    "date",
    "timestamp",
    "time",
    "uuid",
    "numeric",
    "double precision",
    "real",
    "inet",
    "interval",
    "smallserial",
    "char(",
    "varchar(",
    "character varying(",
)
MAX_INCLUDED_VARCHAR = 255


def is_small_column(db_type: str) -> bool:
    """Whether a column of this type is bounded and small enough to INCLUDE.

    >>> [is_small_column(t) for t in ("bigint", "varchar(64)", "varchar(2000)", "text", "jsonb")]
    [True, True, False, False, False]
    """
    t = db_type.lower().strip()
    if not t.startswith(_SMALL_TYPES) or t.endswith("[]"):
        return False
    if "(" in t and t.startswith(("varchar(", "character varying(", "char(")):
        length = declared_length(t)
        return length is not None and length <= MAX_INCLUDED_VARCHAR
    return True


def covering(
    candidate: IndexCandidate, pattern: AccessPattern, table: Table | None
) -> IndexCandidate:
    """``candidate`` with the few small columns a narrow SELECT also reads as ``INCLUDE``."""
    if (
        pattern.kind != "select"
        or pattern.selected is None
        or not method(candidate.method).supports_include
    ):
        return candidate
    if table is None or set(pattern.selected) >= {c.name for c in table.columns}:
        return candidate  # types unknown, or a full model fetch: no index-only scan to win
    in_index = index_columns(candidate)
    extra = tuple(c for c in dict.fromkeys(pattern.selected) if c not in in_index)
    if not extra or len(extra) > MAX_INCLUDE:
        return candidate
    columns = [table.column(c) for c in extra]
    if any(c is None or not is_small_column(c.db_type) for c in columns):
        return candidate
    return replace(
        candidate,
        include=extra,
        index_only=((pattern.query_id, tuple(dict.fromkeys(pattern.selected))),),
    )


def index_columns(candidate: IndexCandidate) -> set[str]:
    """The columns an index-only scan of ``candidate`` has without INCLUDE: its plain keys and
    the columns its WHERE names."""
    found = {e.column for e in candidate.elements if e.column and not e.expression}
    return found | {p.column for p in candidate.condition}


def settled_include(candidate: IndexCandidate, hot: Collection[str] = ()) -> IndexCandidate:
    """The final index's INCLUDE list, and the one sentence that says why.

    Merging gathers the INCLUDE columns of every folded query and a column may then be left
    out (``hot``: the workload updates it, and each such UPDATE would write the index too, no
    longer HOT). What is kept is only what still lets some query be answered from the index
    alone; a column that no longer completes any query's reads buys nothing and goes.

    >>> from idxadvisor.types.schema import IndexElement
    >>> c = IndexCandidate("log", (IndexElement("org"),), include=("at", "id"),
    ...     index_only=(("q1", ("org", "at")), ("q2", ("org", "at", "id"))))
    >>> print(settled_include(c).reasons[-1])
    INCLUDE (at, id): q1, q2 read nothing else, so an index-only scan answers them without...
    >>> c = settled_include(c, hot={"at"})
    >>> c.include
    ()
    >>> print(c.reasons[-1])
    Not INCLUDE (at): the workload updates it, ... Without it, id no longer completes any...
    """
    if not candidate.include:
        return candidate
    left_out = [c for c in candidate.include if c in hot]
    kept = [c for c in candidate.include if c not in hot]
    reachable = index_columns(candidate) | set(kept)
    # Every INCLUDE comes from covering() with its record, or from folds uniting them.
    answered = [(q, reads) for q, reads in candidate.index_only if set(reads) <= reachable]
    needed = {c for _, reads in answered for c in reads}
    include = tuple(c for c in kept if c in needed)
    useless = [c for c in kept if c not in needed]
    reasons = list(candidate.reasons)
    if include:
        names = [q for q, _ in answered]
        one = len(names) == 1
        reasons.append(
            f"INCLUDE ({', '.join(include)}): {', '.join(names)} read{'s' if one else ''} "
            f"nothing else, so an index-only scan answers {'it' if one else 'them'} without "
            "visiting the table."
        )
    if left_out:
        sentence = (
            f"Not INCLUDE ({', '.join(left_out)}): the workload updates it, and an UPDATE "
            "that changes it would write this index too."
        )
        if useless:
            one = len(useless) == 1
            sentence += (
                f" Without it, {', '.join(useless)} no longer "
                f"complete{'s' if one else ''} any query's reads for an index-only scan, so "
                f"{'it is' if one else 'they are'} left out too."
            )
        reasons.append(sentence)
    return replace(candidate, include=include, reasons=tuple(reasons))
