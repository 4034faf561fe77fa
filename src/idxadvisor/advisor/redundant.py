"""Existing indexes that a recommendation makes unnecessary.

A plain B-tree whose keys lead a recommended plain B-tree serves nothing the new one does not:
the FK index on ``channel_id`` is redundant next to ``(channel_id, created_at DESC)``. Unique,
partial, invalid and non-B-tree indexes are never called redundant here: they carry meaning
(a constraint, a predicate) or are broken for another reason.

>>> from idxadvisor.types.advice import IndexCandidate, Recommendation
>>> from idxadvisor.types.schema import ExistingIndex, IndexElement
>>> fk = ExistingIndex("hook", "hook_channel_id_1a2b", (IndexElement("channel_id"),),
...                    "foreign key")
>>> rec = Recommendation(IndexCandidate("hook", (IndexElement("channel_id"),
...                      IndexElement("created_at", descending=True))), "hook_new_idx", "", "")
>>> [r.index.name for r in redundant([rec], [fk])]
['hook_channel_id_1a2b']
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from idxadvisor.advisor.methods import BTREE
from idxadvisor.types.advice import Recommendation, Redundancy
from idxadvisor.types.schema import ExistingIndex


def redundant(
    recommendations: Sequence[Recommendation],
    existing: Sequence[ExistingIndex],
    generated: Collection[str] = (),
) -> list[Redundancy]:
    """The existing indexes the recommendations make redundant (``generated``: tables whose
    model is made at run time, whose fields no source of the project declares)."""
    found: list[Redundancy] = []
    for index in existing:
        if index.unique or index.condition or index.method != BTREE or not index.valid:
            continue
        if any(e.opclass for e in index.elements) or index.include:
            continue
        for rec in recommendations:
            c = rec.candidate
            if c.table != index.table or c.condition or c.method != BTREE or c.unique:
                continue
            if len(c.elements) <= len(index.elements):
                continue
            lead = c.elements[: len(index.elements)]
            same = all(
                a.key == b.key and (len(lead) == 1 or a.descending == b.descending)
                for a, b in zip(index.elements, lead, strict=True)
            )
            if same:
                how = ""
                if index.table in generated:
                    how = (
                        " Its model is made at run time (not written in the project's source, "
                        "e.g. by django-simple-history): drop it through what makes the model."
                    )
                elif index.origin.startswith(("foreign key", "db_index")):
                    how = (
                        " Django declares it (db_index/ForeignKey): set db_index=False on the "
                        "field when you drop it."
                    )
                found.append(
                    Redundancy(
                        index=index,
                        covered_by=rec.name,
                        reason=f"its keys ({', '.join(index.columns)}) lead {rec.name}, which "
                        f"serves every lookup it does.{how}",
                    )
                )
                break
    return found


def with_redundancy(
    recommendations: Sequence[Recommendation],
    existing: Sequence[ExistingIndex],
    found: Sequence[Redundancy] = (),
    generated: Collection[str] = (),
) -> tuple[list[Recommendation], list[Redundancy]]:
    """Every redundancy (those :func:`redundant` finds, then ``found`` elsewhere, e.g. duplicate
    existing indexes), and each recommendation naming the existing ones it makes redundant."""
    redundancies = list(dict.fromkeys((*redundant(recommendations, existing, generated), *found)))
    recs = [
        replace(r, redundant=tuple(x.index.name for x in redundancies if x.covered_by == r.name))
        for r in recommendations
    ]
    return recs, redundancies
