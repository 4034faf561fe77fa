"""IDX001 — a filter that no index serves.

Without an index whose leading keys match a query's ``WHERE`` conditions, PostgreSQL reads the
whole table and throws away the rows that do not match (a sequential scan). That is cheap on a
table of a few hundred rows and a timeout on one of a few million, and tables grow after the
code is merged. The check reports a queryset when the analysis found no existing or declared
index that serves its filter, and suggests the index the advisor would create — composite in
the right column order, partial when the queryset compares a column with a constant. Add it to
the model's ``Meta.indexes`` (``idxadvisor generate`` writes the migration).
See https://www.postgresql.org/docs/current/indexes-multicolumn.html and
https://www.postgresql.org/docs/current/indexes-partial.html.
"""

from __future__ import annotations

from collections.abc import Iterator

from idxadvisor.checks import Problem, register
from idxadvisor.checks._support import (
    TRIGRAM_METHODS,
    filter_uses,
    normalise_key,
    recommendations_for,
    served,
    source_order,
    suggestion_of,
    usable_indexes,
)
from idxadvisor.types.advice import Recommendation
from idxadvisor.types.analysis import Analysis

_FOLD = ("UPPER(", "LOWER(")


def is_plain(rec: Recommendation) -> bool:
    """A recommendation that is neither a trigram nor a case-folding expression index: those
    are reported by IDX004 and IDX003 with their own explanation."""
    if rec.candidate.method in TRIGRAM_METHODS:
        return False
    return not any(normalise_key(e.key).startswith(_FOLD) for e in rec.candidate.elements)


@register(
    code="IDX001",
    name="unindexed-filter",
    summary="A queryset filters on columns that no existing or declared index serves.",
    message="{subject} filters on {table}({columns}) with no usable index; suggest {suggestion}",
)
def unindexed_filter(analysis: Analysis) -> Iterator[Problem]:
    for pattern in analysis.patterns:
        if not pattern.predicates or served(analysis, pattern):
            continue
        if any(filter_uses(i, pattern) for i in usable_indexes(analysis.schema, pattern.table)):
            continue  # an index serves the filter; a better one is advice, not an error
        recs = [r for r in recommendations_for(analysis, pattern) if is_plain(r)]
        if not recs:
            continue
        columns = source_order(
            analysis, pattern.table, [p.column for p in pattern.predicates],
            analysis.workload.by_id().get(pattern.query_id),
        )
        yield Problem(pattern.query_id, pattern.table, columns, suggestion_of(recs[0]))
