"""Which redundant indexes may go, judged from live statistics.

:func:`idxadvisor.advisor.redundant.redundant` finds the structure: an existing plain B-tree
whose keys lead a recommended one (the FK index on ``channel_id`` next to ``(channel_id,
created_at DESC)``) can do nothing the new one cannot. Whether dropping it is safe also depends
on who scans it today, which only the database knows. :func:`mark_removable` sets
:attr:`Redundancy.removable` (and says why in ``reason``) when:

* the scan counts cover long enough (:data:`~idxadvisor.live.housekeeping.MIN_STATS_AGE`), and
* the index had no scans in that time, or its scans can be put down to workload queries that plan
  with it today (each one a scan the new index can do: the old keys lead it) — which needs the
  workload to be the database's own (``pg_stat_statements``); scans no workload query explains
  keep it.

A foreign-key index is removable on the same terms: the new index leads with the FK column, so
the FK check, ``ON DELETE CASCADE`` and joins from the referenced table still find the rows
through it (their scans are counted in ``idx_scan`` too).

>>> # advice = replace(advice, redundant=mark_removable(advice, workload, db, whatif))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from idxadvisor.live.connection import ReadOnlyDatabase
from idxadvisor.live.housekeeping import MIN_STATS_AGE, StatsAge, stats_age
from idxadvisor.live.whatif import PlanError, WhatIf
from idxadvisor.types.advice import Advice, Recommendation, Redundancy
from idxadvisor.types.workload import Query

_SCANS = """
SELECT s.indexrelname, s.idx_scan
FROM pg_stat_user_indexes s
WHERE s.indexrelname = ANY(%(names)s) AND pg_table_is_visible(s.relid)
"""


def mark_removable(
    redundancies: Sequence[Redundancy],
    recommendations: Sequence[Recommendation],
    queries: Sequence[Query],
    db: ReadOnlyDatabase,
    whatif: WhatIf | None = None,
) -> tuple[Redundancy, ...]:
    """``redundancies`` with ``removable`` decided for those covered by a recommendation
    (others are returned as they are). ``whatif`` (HypoPG available) tells which workload
    queries scan the old index today and whether the new one serves them."""
    by_name = {r.name: r for r in recommendations}
    judged = [x for x in redundancies if x.covered_by in by_name]
    if not judged:
        return tuple(redundancies)
    age = stats_age(db)
    rows = db.fetchall(
        _SCANS, {"names": [x.index.name for x in judged]}, what="reading pg_stat_user_indexes"
    )
    scans = {name: int(count or 0) for name, count in rows}
    out = []
    for x in redundancies:
        rec = by_name.get(x.covered_by)
        if rec is None:
            out.append(x)
            continue
        removable, why = _decide(x, rec, scans.get(x.index.name), age, queries, whatif)
        out.append(replace(x, removable=removable, reason=f"{x.reason} {why}"))
    return tuple(out)


def _decide(
    x: Redundancy,
    rec: Recommendation,
    scans: int | None,
    age: StatsAge,
    queries: Sequence[Query],
    whatif: WhatIf | None,
) -> tuple[bool, str]:
    old = x.index.name
    if scans is None:
        return False, f"Kept: no scan counts for {old} (pg_stat_user_indexes has no row)."
    if age.age is None or age.age < MIN_STATS_AGE:
        span = age.describe() if age.age is not None else f"an unknown time ({age.basis})"
        return False, (
            f"Kept: its scan counts cover {span}, under the {MIN_STATS_AGE.days} "
            "days needed to know nothing else uses it."
        )
    span = age.describe()
    fk = ""
    if x.index.origin.startswith("foreign key"):
        fk = (
            f" As a foreign-key index: {rec.name} leads with "
            f"{', '.join(x.index.columns)}, so the FK check, cascades and joins are still "
            "served."
        )
    if scans == 0:
        return True, f"Removable: no scans in {span}.{fk}"
    users = _queries_using(old, queries, whatif)
    if users is None:
        return False, (
            f"Kept: {scans:,} scans in {span}, and without HypoPG the workload "
            "queries behind them cannot be told."
        )
    if not users:
        return False, (
            f"Kept: {scans:,} scans in {span}, and no workload query plans with "
            "it: something outside the workload uses it."
        )
    if not all(q.source == "pg_stat_statements" for q in users) or not any(
        q.source == "pg_stat_statements" for q in queries
    ):
        return False, (
            f"Kept: {scans:,} scans in {span}; the workload queries using it are "
            f"served by {rec.name}, but the workload is not the database's own "
            "(--from-pg-stat-statements), so other statements may use it too."
        )
    ids = ", ".join(q.id for q in users[:3]) + ("…" if len(users) > 3 else "")
    return True, (
        f"Removable: its {scans:,} scans in {span} are by {ids} of the database's "
        f"own workload, and its keys lead {rec.name}, which can do each of them.{fk}"
    )


def _queries_using(
    index: str, queries: Sequence[Query], whatif: WhatIf | None
) -> list[Query] | None:
    """Workload queries whose plan today scans ``index`` (None: no planner to ask)."""
    if whatif is None or not whatif.available:
        return None
    found = []
    for q in queries:
        try:
            if index in whatif.cost(q.sql).indexes_used:
                found.append(q)
        except PlanError:
            continue
    return found


def with_removals(
    advice: Advice, queries: Sequence[Query], db: ReadOnlyDatabase, whatif: WhatIf | None = None
) -> Advice:
    """``advice`` with :func:`mark_removable` applied to its redundancies (live mode)."""
    if not any(x.covered_by in {r.name for r in advice.recommendations} for x in advice.redundant):
        return advice
    whatif = whatif if whatif is not None else WhatIf(db)
    return replace(
        advice,
        redundant=mark_removable(advice.redundant, advice.recommendations, queries, db, whatif),
    )
