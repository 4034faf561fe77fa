"""Which queries the checks flag: exactly those ``analyze`` proposes an index for.

The yardstick is the advisor's own recommendations (their ``serves``), so ``check`` and
``analyze`` never disagree about whether a query needs an index. The index *suggested* for a
query is the advisor's design for that query alone (:func:`idxadvisor.advisor.advise` on its
access patterns): across a workload the advisor merges candidates, and a merge depends on which
other queries were analysed — a pre-commit hook analyses only the changed files, so a merged
name would change with the file list. When the merge gave this query another index, the
message names that one too, so a user building from ``check`` builds the index ``analyze``
proposes, not a second one beside it.
"""

from __future__ import annotations

from collections import defaultdict

from idxadvisor.advisor import advise
from idxadvisor.checks.registry import Proposal
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import Advice, Recommendation
from idxadvisor.types.analysis import Analysis
from idxadvisor.types.workload import Query


def _advise_alone(patterns: list[AccessPattern], analysis: Analysis, query: Query) -> Advice:
    """The advice for one query on its own, on the same terms as the pipeline's."""
    return advise(patterns, analysis.schema, queries={query.id: query})


def proposals(analysis: Analysis) -> tuple[Proposal, ...]:
    """One :class:`Proposal` per (query, table, index) the advisor proposes, sorted."""
    wanted: dict[str, set[str]] = defaultdict(set)  # query id → tables analyze serves it on
    merged: dict[tuple[str, str], list[Recommendation]] = defaultdict(list)
    for rec in analysis.advice.recommendations:
        for query_id in rec.serves:
            wanted[query_id].add(rec.table)
            merged[(query_id, rec.table)].append(rec)
    patterns: dict[str, list[AccessPattern]] = defaultdict(list)
    for p in analysis.patterns:
        if p.query_id in wanted:
            patterns[p.query_id].append(p)
    queries = analysis.workload.by_id()
    out: list[Proposal] = []
    for query_id in sorted(wanted):
        query = queries.get(query_id)
        if query is None or not patterns[query_id]:
            continue
        own = _advise_alone(patterns[query_id], analysis, query).recommendations
        for table in sorted(wanted[query_id]):
            pattern = next((p for p in patterns[query_id] if p.table == table), None)
            if pattern is None:
                continue
            # Alone, the query gets the same kinds of index on the table as in the workload;
            # should it not (a rare merge effect), the workload's index is what analyze shows.
            recs = [r for r in own if r.table == table] or merged[(query_id, table)]
            workload = merged[(query_id, table)]
            for rec in recs:
                # The index analyze shows for this query, when the workload's merge made it
                # another: said beside the stable per-query name, so one index gets built.
                other = None
                if workload and all(w.name != rec.name for w in workload):
                    other = workload[0]
                out.append(Proposal(query, pattern, rec, other))
    return tuple(out)
