"""Covering indexes: ``INCLUDE`` the few other columns a query reads, for index-only scans.

Django reads every column by default, so this only fires for ``values()``, ``values_list()``,
aggregates and the like. A handful of extra columns is cheap to carry in the leaf pages;
beyond three the index grows toward a copy of the table.

>>> from idxadvisor.advisor.candidate import IndexCandidate
>>> from idxadvisor.patterns import AccessPattern
>>> from idxadvisor.schema import IndexElement
>>> c = IndexCandidate("log", (IndexElement("organisation"),))
>>> p = AccessPattern("q1", "log", "select", selected=("organisation", "integration"))
>>> covering(c, p, None).include
('integration',)
"""

from __future__ import annotations

from dataclasses import replace

from idxadvisor.advisor.candidate import IndexCandidate
from idxadvisor.patterns import AccessPattern
from idxadvisor.schema import Table

MAX_INCLUDE = 3


def covering(
    candidate: IndexCandidate, pattern: AccessPattern, table: Table | None
) -> IndexCandidate:
    if pattern.kind != "select" or pattern.selected is None or candidate.method != "btree":
        return candidate
    in_index = {e.column for e in candidate.elements if e.column and not e.expression}
    in_index |= {p.column for p in candidate.condition}
    extra = tuple(c for c in dict.fromkeys(pattern.selected) if c not in in_index)
    if not extra or len(extra) > MAX_INCLUDE:
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
