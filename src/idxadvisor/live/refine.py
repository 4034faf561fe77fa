"""With a database: the heuristic advice checked against the planner and the data.

- What-if (HypoPG): the recommendations go through :func:`~idxadvisor.live.selection.select`;
  those the planner would not use, or that save too little, move to ``rejected`` with the
  reason; the kept ones get their estimated size and benefit, each query its cost before and
  after. Without HypoPG this is said once and the heuristics stand.
- Uniqueness: a ``.get()`` / ``get_or_create()`` on columns no unique index covers, where the
  data is unique (enough rows, ``pg_stats``, then an exact duplicate check), becomes a UNIQUE
  proposal; when the data cannot show it, a note says why and the plain proposal stays.
- Housekeeping: unused indexes (over statistics old enough) and duplicate or prefix-redundant
  ones.
- Privileges: a table the role cannot read (see :func:`~idxadvisor.schema.catalog.table_access`)
  gets none of the above; its proposals are kept on heuristics, saying which GRANT would help,
  and the rest of the run goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from idxadvisor.advisor import recommendation
from idxadvisor.advisor.redundant import with_redundancy
from idxadvisor.advisor.rules.unique import adopt_unique, unique, unique_lookups
from idxadvisor.live.connection import ReadOnlyDatabase
from idxadvisor.live.housekeeping import UnusedReport, duplicate_indexes, unused_indexes
from idxadvisor.live.selection import select
from idxadvisor.live.uniqueness import confirm_unique
from idxadvisor.live.whatif import PlanError, WhatIf
from idxadvisor.schema.catalog import table_access
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import Advice, IndexCandidate, QueryCost, Recommendation, Redundancy
from idxadvisor.types.schema import Schema
from idxadvisor.types.workload import Workload


def refine(
    advice: Advice,
    workload: Workload,
    patterns: Sequence[AccessPattern],
    schema: Schema,
    db: ReadOnlyDatabase,
    *,
    max_index_bytes: int | None = None,
) -> Advice:
    notes = list(advice.notes)
    # Only the tables this workload reads: the rest of the database is not in view.
    in_view = {p.table for p in patterns}
    blocked = table_access(db, in_view)
    notes += [blocked[t] for t in sorted(blocked)]
    found, not_unique = unique_evidence(workload, patterns, schema, db, blocked=blocked)
    proposed = {r.candidate: r for r in advice.recommendations}
    candidates, unique_notes = adopt_unique(list(proposed), found, not_unique)
    recommendations = [
        proposed.get(c) or recommendation(c, schema.tables.get(c.table)) for c in candidates
    ]
    notes += unique_notes
    rejected = list(advice.rejected)
    costs: dict[str, QueryCost] = dict(advice.costs)
    skipped = list(advice.skipped)
    # Queries touching a table the role cannot read cannot be planned: leave them, and the
    # proposals only they would use, to the heuristics instead of failing on them.
    blocked_queries = {p.query_id: blocked[p.table] for p in patterns if p.table in blocked}
    held = {
        r.candidate.definition(): _blocked_reason(r, blocked, blocked_queries)
        for r in recommendations
    }
    held = {d: why for d, why in held.items() if why}
    whatif = WhatIf(db)
    if not whatif.available:
        notes.append(whatif.unavailable_reason or "HypoPG is not available: heuristics only")
    else:
        selection = select(
            [r.candidate for r in recommendations if r.candidate.definition() not in held],
            [q for q in workload.queries if q.id not in blocked_queries],
            whatif,
            schema=schema,
            patterns=patterns,
            max_index_bytes=max_index_bytes,
        )
        chosen = {c.candidate.definition(): c for c in selection.chosen}
        unverified = {r.candidate.definition(): r.reason for r in selection.unverified}
        kept: list[Recommendation] = []
        for r in recommendations:
            c = chosen.get(r.candidate.definition())
            if r.candidate.definition() in held:
                why = held[r.candidate.definition()]
                kept.append(
                    replace(
                        r,
                        candidate=replace(
                            r.candidate,
                            reasons=(*r.candidate.reasons, f"Kept on heuristics: {why}."),
                        ),
                    )
                )
            elif c is not None:
                reasons = r.candidate.reasons
                if not c.reliable and c.note:
                    reasons = (*reasons, f"What-if: {c.note}.")
                kept.append(
                    replace(
                        r,
                        candidate=replace(r.candidate, reasons=reasons),
                        estimated_size_bytes=c.size_bytes,
                        benefit=round(c.benefit, 2),
                    )
                )
            elif r.candidate.definition() in unverified:
                why = unverified[r.candidate.definition()]
                kept.append(
                    replace(
                        r,
                        candidate=replace(
                            r.candidate,
                            reasons=(*r.candidate.reasons, f"Kept on heuristics: {why}."),
                        ),
                    )
                )
        recommendations = kept
        rejected += selection.rejected
        skipped += selection.skipped
        names = {r.candidate.definition(): r.name for r in recommendations}
        final = [r.candidate for r in recommendations if r.candidate.definition() not in held]
        queries = workload.by_id()
        items = list(selection.costs.items())
        # One batch: each query costed against the final set, in pipelined EXPLAINs.
        estimates = whatif.costs([(queries[qid].sql, final) for qid, _ in items])
        for (qid, cost), estimate in zip(items, estimates, strict=True):
            if isinstance(estimate, PlanError):
                raise estimate
            used = estimate.candidates_used
            label = next(
                (names[c.definition()] for c in used if c.definition() in names), cost.index_used
            )
            costs[qid] = replace(cost, index_used=label)

    notes += unused_notes(unused_indexes(db), in_view)
    duplicates, installed = _project_own(duplicate_indexes(schema), schema, in_view)
    if installed:
        tables = ", ".join(sorted({r.index.table for r in installed}))
        notes.append(
            f"{len(installed)} existing index{'es' if len(installed) != 1 else ''} "
            f"redundant by {'their' if len(installed) != 1 else 'its'} keys not listed, on "
            f"tables of installed packages or that this workload does not read ({tables}): "
            "a package's migrations make its indexes, and a migration of this project would "
            "only fight theirs"
        )
    recommendations, redundancies = with_redundancy(
        recommendations,
        schema.indexes,
        duplicates,
        generated=schema.generated_tables,
    )
    return replace(
        advice,
        recommendations=tuple(sorted(recommendations, key=lambda r: (r.table, r.name))),
        redundant=tuple(redundancies),
        rejected=tuple(rejected),
        skipped=tuple(skipped),
        costs=costs,
        notes=tuple(notes),
        whatif_calls=whatif.calls if whatif.available else None,
    )


def _project_own(
    found: tuple[Redundancy, ...], schema: Schema, in_view: set[str]
) -> tuple[tuple[Redundancy, ...], tuple[Redundancy, ...]]:
    """``found`` split into those on the project's own tables that the workload reads, and the
    rest: tables of installed packages (django.contrib.auth's ``auth_user_groups``: its FK
    index is a prefix of its unique pair by Django's design, and no migration of the project
    should change that) and tables out of view, as unused indexes are."""
    own: list[Redundancy] = []
    others: list[Redundancy] = []
    for r in found:
        table = schema.tables.get(r.index.table)
        mine = table is not None and not table.installed_package and table.name in in_view
        (own if mine else others).append(r)
    return tuple(own), tuple(others)


def unused_notes(report: UnusedReport, in_view: set[str]) -> list[str]:
    """One note per unused index on a table in view, with how long the counts cover; or the
    one note saying why none are reported. A foreign-key index says what it serves."""
    if report.skipped_reason:
        return [report.skipped_reason]
    span = report.age.describe()
    notes = []
    for u in report.indexes:
        if u.table not in in_view:
            continue
        note = f"unused index {u.name} on {u.table} ({u.size_bytes:,} bytes): no scans in {span}"
        if u.foreign_key and u.references:
            fk = f"{u.table}({', '.join(u.foreign_key)}) → {u.references}"
            note += (
                f"; it backs the foreign key {fk}: deleting or re-keying a {u.references} "
                "row finds the referencing rows through it (ON DELETE CASCADE, the FK "
                f"check), and joins from {u.references} use it, so drop it only if "
                f"{u.references} rows are never deleted"
            )
        notes.append(note)
    return notes


def _blocked_reason(
    r: Recommendation, blocked: dict[str, str], blocked_queries: dict[str, str]
) -> str | None:
    """Why the planner cannot check ``r``: its table, or every query it serves, is unreadable."""
    if r.table in blocked:
        return blocked[r.table]
    serves = r.candidate.serves
    if serves and all(q in blocked_queries for q in serves):
        return blocked_queries[serves[0]]
    return None


def unique_evidence(
    workload: Workload,
    patterns: Sequence[AccessPattern],
    schema: Schema,
    db: ReadOnlyDatabase,
    *,
    blocked: dict[str, str] | None = None,
) -> tuple[list[IndexCandidate], list[tuple[str, tuple[str, ...], str]]]:
    """The data's answer for each lookup :func:`~idxadvisor.advisor.rules.unique.unique_lookups`
    names: the UNIQUE candidates :func:`~idxadvisor.advisor.rules.unique.unique` makes of them,
    and ``(table, columns, why)`` where the data cannot show it (too few rows, no statistics, a
    timeout). Tables in ``blocked`` (unreadable) are not checked: the caller says so once."""
    found: list[IndexCandidate] = []
    undecided: list[tuple[str, tuple[str, ...], str]] = []
    for lookup in unique_lookups(patterns, workload.by_id(), schema):
        if lookup.table in (blocked or {}):
            continue
        check = confirm_unique(db, schema.tables[lookup.table], lookup.columns)
        if check.unique is None:
            undecided.append((lookup.table, lookup.columns, check.checked))
        candidate = unique(lookup, check.unique, check.checked)
        if candidate is not None:
            found.append(candidate)
    return found, undecided
