"""IDX001 — a filter that no index serves.

Without an index whose leading keys match a query's ``WHERE`` conditions, PostgreSQL reads the
whole table and throws away the rows that do not match (a sequential scan). That is cheap on a
table of a few hundred rows and a timeout on one of a few million, and tables grow after the
code is merged. The check reports each queryset for which ``idxadvisor analyze`` proposes an
index (and no more specific check applies), with that index — composite in the right column
order, partial when the queryset compares a column with a constant. Add it to the model's
``Meta.indexes`` (``idxadvisor generate`` writes the migration).
See https://www.postgresql.org/docs/current/indexes-multicolumn.html and
https://www.postgresql.org/docs/current/indexes-partial.html.
"""

from __future__ import annotations

from collections.abc import Iterator

from idxadvisor.checks.registry import CheckContext, Problem, register
from idxadvisor.checks.rules._shared import filter_columns, filter_index


@register(
    code="IDX001",
    name="unindexed-filter",
    summary="A queryset filters on columns that no existing or declared index serves.",
    message="{subject} filters on {table}({columns}) {gap}; suggest {suggestion}",
    fallback=True,
)
def unindexed_filter(context: CheckContext) -> Iterator[Problem]:
    analysis = context.analysis
    for proposal in context.proposals:
        pattern = proposal.pattern
        columns = filter_columns(analysis, proposal.query, pattern)
        if not columns:  # a join or a sort alone: name the keys the index would have
            rec = proposal.recommendation
            columns = rec.fields or rec.expressions or rec.candidate.keys
        partial = filter_index(analysis, pattern)
        gap = (
            "with no usable index"
            if partial is None
            else f"and {partial.name} serves only part of it"
        )
        yield Problem(columns, (("gap", gap),), proposal=proposal)
