"""IDX002 — ORDER BY with LIMIT that no index returns in order.

``.order_by(...)[:n]`` asks for the first *n* rows in an order. When an index holds the rows in
that order (after any columns the query fixes with ``=``), PostgreSQL walks it and stops after
*n* rows. When none does, it must find every matching row and sort them all before it can
return the first *n*: the cost grows with the table, not with the page size. The check reports
such querysets — whose filter, if any, an existing index already serves — with the index
``idxadvisor analyze`` proposes: the equality columns followed by the ORDER BY columns in their
direction (an index can also be scanned backwards, so all keys reversed works too).
See https://www.postgresql.org/docs/current/indexes-ordering.html.
"""

from __future__ import annotations

from collections.abc import Iterator

from idxadvisor.checks.registry import CheckContext, Problem, register
from idxadvisor.checks.rules._shared import (
    delivers_order,
    filter_index,
    folded_keys,
    is_trigram,
)


@register(
    code="IDX002",
    name="unordered-limit",
    summary="A queryset takes the first rows in an order (ORDER BY … LIMIT) that no index holds.",
    message=(
        "{subject} orders by {table}({columns}) with LIMIT {limit} but no index returns rows in "
        "that order, so every matching row is sorted first; suggest {suggestion}"
    ),
)
def unordered_limit(context: CheckContext) -> Iterator[Problem]:
    for proposal in context.proposals:
        pattern, rec = proposal.pattern, proposal.recommendation
        if pattern.kind != "select" or pattern.limit is None or not pattern.order_by:
            continue
        if is_trigram(rec) or folded_keys(rec) or not delivers_order(rec, pattern):
            continue
        if pattern.predicates and filter_index(context.analysis, pattern) is None:
            continue  # nothing serves the filter either: that is IDX001's message
        columns = tuple(o.key + (" DESC" if o.descending else "") for o in pattern.order_by)
        yield Problem(columns, (("limit", str(pattern.limit)),), proposal=proposal)
