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

from dataclasses import replace

from idxadvisor.advisor.methods import method
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Table

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
        length = t.split("(", 1)[1].split(")", 1)[0]
        return length.isdigit() and int(length) <= MAX_INCLUDED_VARCHAR
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
    in_index = {e.column for e in candidate.elements if e.column and not e.expression}
    in_index |= {p.column for p in candidate.condition}
    extra = tuple(c for c in dict.fromkeys(pattern.selected) if c not in in_index)
    if not extra or len(extra) > MAX_INCLUDE:
        return candidate
    columns = [table.column(c) for c in extra]
    if any(c is None or not is_small_column(c.db_type) for c in columns):
        return candidate
    return replace(
        candidate,
        include=extra,
        reasons=(
            *candidate.reasons,
            f"INCLUDE ({', '.join(extra)}): the query reads only these other columns, so an "
            "index-only scan can answer it without visiting the table.",
        ),
    )
