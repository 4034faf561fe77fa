"""UNIQUE indexes: a ``.get()`` lookup on columns the data already holds unique.

The advisor decides; the live stage only gathers the evidence (row counts, ``pg_stats``, an
exact duplicate check). :func:`unique_lookups` names the lookups worth checking, :func:`unique`
turns one lookup and its evidence into a candidate, and :func:`adopt_unique` puts the found
ones among the recommendations: a plain proposal on the same keys becomes the UNIQUE one.

>>> from idxadvisor.types.schema import Column, Schema, Table
>>> from idxadvisor.types.workload import Query
>>> from idxadvisor.patterns.extractor import extract
>>> sql = "SELECT * FROM t WHERE code = $1 LIMIT 21"
>>> q = Query("q1", sql, sql, "capture", code="T.objects.get(code=code)")
>>> schema = Schema({"t": Table("t", (Column("id", "id", "bigint"), Column("code", "code",
...                                                                       "varchar(8)")))})
>>> [lookup] = unique_lookups(extract(q), {"q1": q}, schema)
>>> lookup.columns
('code',)
>>> unique(lookup, True, "1,200 rows, no duplicates").unique
True
>>> unique(lookup, None, "too few rows") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from idxadvisor.types.access import AccessPattern, Op
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement, Schema
from idxadvisor.types.workload import Query

# Querysets that expect exactly one row: the code already assumes the columns are unique.
GET_CALLS = (".get(", "get_or_create(", "update_or_create(")


@dataclass(frozen=True, slots=True)
class UniqueLookup:
    """A one-row lookup on columns no unique index covers: whether the data is unique there
    is for the database to show."""

    table: str
    columns: tuple[str, ...]
    query_id: str
    origin: str = ""  # where the code does it, for the reason


def unique_lookups(
    patterns: Sequence[AccessPattern],
    queries: Mapping[str, Query],
    schema: Schema,
) -> list[UniqueLookup]:
    """The ``.get()``-style lookups whose columns no unique index covers, once per column set."""
    found: list[UniqueLookup] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for p in patterns:
        q = queries.get(p.query_id)
        if q is None or not q.code or not any(call in q.code for call in GET_CALLS):
            continue
        columns = tuple(
            x.column
            for x in p.predicates
            if x.op is Op.EQ and not x.expression and not x.is_constant
        )
        if not columns or p.table not in schema.tables:
            continue
        if (p.table, tuple(sorted(columns))) in seen:
            continue
        seen.add((p.table, tuple(sorted(columns))))
        if any(
            i.unique and i.valid and not i.condition and set(i.columns) <= set(columns)
            for i in schema.indexes_on(p.table)
        ):
            continue  # already unique on (a subset of) these columns
        found.append(
            UniqueLookup(p.table, columns, p.query_id, str(q.origins[0]) if q.origins else "")
        )
    return found


def unique(lookup: UniqueLookup, data_unique: bool | None, checked: str) -> IndexCandidate | None:
    """The UNIQUE candidate for ``lookup`` when the data is unique there (``checked`` says how
    that was shown), else None."""
    if not data_unique:
        return None
    at = f" at {lookup.origin}" if lookup.origin else ""
    return IndexCandidate(
        table=lookup.table,
        elements=tuple(IndexElement(column=c) for c in lookup.columns),
        unique=True,
        serves=(lookup.query_id,),
        reasons=(
            f"The code looks a row up with .get(){at} on ({', '.join(lookup.columns)}), which "
            f"no unique index covers, and the data is unique there ({checked}). A UNIQUE index "
            "serves the lookup and also keeps duplicates out.",
        ),
        equality_prefix=len(lookup.columns),
    )


def adopt_unique(
    candidates: Sequence[IndexCandidate],
    found: Sequence[IndexCandidate],
    undecided: Sequence[tuple[str, tuple[str, ...], str]],
) -> tuple[list[IndexCandidate], list[str]]:
    """The proposed candidates with the UNIQUE ones in, and the run-wide notes.

    A plain proposal on the same keys becomes the UNIQUE one (it serves the same lookups); a
    lookup whose data could not show uniqueness (``(table, columns, why)``) is said on the
    plain proposal serving it, else in a note.
    """
    out = list(candidates)
    notes: list[str] = []
    for table, keys, why in undecided:
        at = next(
            (
                i
                for i, c in enumerate(out)
                if c.table == table and set(c.keys) == set(keys) and not c.unique
            ),
            None,
        )
        if at is None:
            notes.append(f"not proposed as UNIQUE: {why}")
        else:
            c = out[at]
            out[at] = replace(c, reasons=(*c.reasons, f"Not proposed as UNIQUE: {why}."))
    for candidate in found:
        same = next(
            (
                c
                for c in out
                if c.table == candidate.table
                and set(c.keys) == set(candidate.keys)
                and not c.condition
                and not c.unique
            ),
            None,
        )
        if same is not None:
            out.remove(same)
            candidate = replace(
                same,
                unique=True,
                serves=tuple(dict.fromkeys((*same.serves, *candidate.serves))),
                reasons=(*candidate.reasons, *same.reasons),
                condition_reasons=(*candidate.condition_reasons, *same.condition_reasons),
                index_only=(*candidate.index_only, *same.index_only),
                led_by=(*candidate.led_by, *same.led_by),
            )
        out.append(candidate)
    return out, notes
