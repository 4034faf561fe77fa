"""Across the workload: one index for several queries where one can serve them all.

A candidate whose keys are a leading prefix of another's (same partial predicate, same method)
is served by the longer one: ``(organisation)`` folds into ``(organisation, created_at DESC)``.
Identical definitions fold into one that lists every query.

>>> from idxadvisor.advisor.candidate import IndexCandidate
>>> from idxadvisor.schema import IndexElement
>>> a = IndexCandidate("log", (IndexElement("org"),), serves=("q1",))
>>> b = IndexCandidate("log", (IndexElement("org"), IndexElement("at", descending=True)),
...                    serves=("q2",))
>>> [m.serves for m in merge([a, b])]
[('q2', 'q1')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from idxadvisor.advisor.candidate import IndexCandidate


def merge(candidates: Sequence[IndexCandidate]) -> list[IndexCandidate]:
    # Longest first, so that each shorter candidate meets the widest index it could fold into.
    ordered = sorted(candidates, key=lambda c: (-len(c.elements), c.serves))
    kept: list[IndexCandidate] = []
    for cand in ordered:
        for i, target in enumerate(kept):
            if _folds_into(cand, target):
                kept[i] = _absorb(target, cand)
                break
        else:
            kept.append(cand)
    return kept


def _folds_into(small: IndexCandidate, big: IndexCandidate) -> bool:
    if (small.table, small.condition_sql, small.method, small.unique) != (
        big.table, big.condition_sql, big.method, big.unique
    ):
        return False
    if len(small.elements) > len(big.elements):
        return False
    pairs = list(zip(small.elements, big.elements[: len(small.elements)], strict=True))
    if any(a.key != b.key for a, b in pairs) or not set(small.include) <= set(big.include):
        return False
    # A B-tree reads forwards or backwards: all directions equal, or all flipped.
    return len({a.descending != b.descending for a, b in pairs}) == 1


def _absorb(target: IndexCandidate, other: IndexCandidate) -> IndexCandidate:
    serves = tuple(dict.fromkeys((*target.serves, *other.serves)))
    reasons = target.reasons
    if other.elements != target.elements:
        extra = ", ".join(other.serves)
        reasons = (*reasons, f"Also serves {extra}: its keys are a leading prefix of this index.")
    return replace(target, serves=serves, reasons=reasons)
