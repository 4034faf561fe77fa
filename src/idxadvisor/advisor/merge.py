"""Across the workload: one index for several queries where one can serve them all.

A candidate whose keys are a leading prefix of another's (same method, and the same partial
predicate or the other has none) is served by the longer one: ``(organisation)`` folds into
``(organisation, created_at DESC)``.
Identical definitions fold into one that lists every query.

>>> from idxadvisor.advisor.candidate import IndexCandidate
>>> from idxadvisor.schema import IndexElement
>>> a = IndexCandidate("log", (IndexElement("org"),), serves=("q1",))
>>> b = IndexCandidate("log", (IndexElement("org"), IndexElement("at", descending=True)),
...                    serves=("q2",))
>>> [m.serves for m in merge([a, b])]
[('q2', 'q1')]

Equality keys can be read in any order, so ``(org)`` also folds into ``(name, org)``, which
becomes ``(org, name)``:

>>> c = IndexCandidate("log", (IndexElement("name"), IndexElement("org")), serves=("q3",),
...                    equality_prefix=2)
>>> [e.key for e in merge([c, IndexCandidate("log", (IndexElement("org"),), serves=("q4",),
...                                          equality_prefix=1)])[0].elements]
['org', 'name']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from idxadvisor.advisor.candidate import IndexCandidate
from idxadvisor.advisor.covering import MAX_INCLUDE
from idxadvisor.advisor.serving import conjuncts, implied


def merge(candidates: Sequence[IndexCandidate]) -> list[IndexCandidate]:
    # A fold can reorder an index's equality keys, which may let another fold in: repeat.
    kept = list(candidates)
    while True:
        merged = _merge_once(kept)
        if len(merged) == len(kept):
            return merged
        kept = merged


def _merge_once(candidates: Sequence[IndexCandidate]) -> list[IndexCandidate]:
    # Longest first, so that each shorter candidate meets the widest index it could fold into.
    ordered = sorted(candidates, key=lambda c: (-len(c.elements), c.serves))
    kept: list[IndexCandidate] = []
    for cand in ordered:
        for i, target in enumerate(kept):
            folded = _fold(cand, target) or _fold(target, cand)
            if folded is not None:
                kept[i] = folded
                break
        else:
            kept.append(cand)
    return kept


def _fold(small: IndexCandidate, big: IndexCandidate) -> IndexCandidate | None:
    """``big`` made to serve ``small`` too (its equality keys maybe reordered), or None."""
    if (small.table, small.method, small.unique) != (big.table, big.method, big.unique) or len(
        small.elements
    ) > len(big.elements):
        return None
    # An index serves a narrower partial one's queries (a full index, or one whose WHERE the
    # other's implies), the rest of the WHERE then applied as a filter after the seek; two
    # indexes on the same keys would cost every write twice.
    if not all(implied(c, small.condition) for c in conjuncts(big.condition_sql)):
        return None
    include = tuple(dict.fromkeys((*big.include, *small.include)))
    include = tuple(c for c in include if c not in big.keys)
    if len(include) > MAX_INCLUDE:
        return None
    elements = big.elements
    pairs = list(zip(small.elements, elements[: len(small.elements)], strict=True))
    direct = all(a.key == b.key for a, b in pairs) and (
        # A B-tree reads forwards or backwards: all directions equal, or all flipped.
        len({a.descending != b.descending for a, b in pairs}) == 1
    )
    if not direct:
        # Equality keys may come in any order: put the smaller candidate's first.
        k = len(small.elements)
        head = {e.key for e in elements[: big.equality_prefix]}
        if small.equality_prefix < k or k > big.equality_prefix or not set(small.keys) <= head:
            return None
        lead = [e for key in small.keys for e in elements if e.key == key]
        rest = [e for e in elements if e.key not in small.keys]
        elements = (*lead, *rest)
    serves = tuple(dict.fromkeys((*big.serves, *small.serves)))
    reasons = big.reasons
    if small.elements != big.elements:
        reasons = (*reasons, f"Also serves {', '.join(small.serves)}: its keys lead this index.")
    if small.condition_sql != big.condition_sql:
        reasons = (*reasons, f"{small.condition_sql} is then checked on the rows the seek "
                             f"finds, rather than by a second, partial index on the same keys.")
    if include != big.include:
        reasons = (*reasons, f"INCLUDE ({', '.join(include)}) for an index-only scan of "
                             f"{', '.join(small.serves)}.")
    return replace(big, elements=tuple(elements), include=include, serves=serves,
                   reasons=reasons)
