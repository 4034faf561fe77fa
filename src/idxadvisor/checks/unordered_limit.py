"""IDX002 — ORDER BY with LIMIT that no index returns in order.

``.order_by(...)[:n]`` asks for the first *n* rows in an order. When an index holds the rows in
that order (after any columns the query fixes with ``=``), PostgreSQL walks it and stops after
*n* rows. When none does, it must find every matching row and sort them all before it can
return the first *n*: the cost grows with the table, not with the page size. The check reports
such querysets and suggests an index whose keys are the equality columns followed by the
ORDER BY columns in their direction (an index can also be scanned backwards, so all keys
reversed works too). See https://www.postgresql.org/docs/current/indexes-ordering.html.
"""

from __future__ import annotations

from collections.abc import Iterator

from idxadvisor.checks import Problem, register
from idxadvisor.checks._support import (
    TRIGRAM_METHODS,
    btree_suggestion,
    delivers_order,
    equality_keys,
    normalise_key,
    recommendations_for,
    suggestion_of,
    usable_indexes,
)
from idxadvisor.types.analysis import Analysis


@register(
    code="IDX002",
    name="unordered-limit",
    summary="A queryset takes the first rows in an order (ORDER BY … LIMIT) that no index holds.",
    message=(
        "{subject} orders by {table}({columns}) with LIMIT {limit} but no index returns rows in "
        "that order, so every matching row is sorted first; suggest {suggestion}"
    ),
)
def unordered_limit(analysis: Analysis) -> Iterator[Problem]:
    for pattern in analysis.patterns:
        if not pattern.order_by or pattern.limit is None or pattern.kind != "select":
            continue
        if any(
            i.method not in TRIGRAM_METHODS
            and delivers_order(i.elements, i.condition, pattern, i.method)
            for i in usable_indexes(analysis.schema, pattern.table)
        ):
            continue
        suggestion = next(
            (
                suggestion_of(r)
                for r in recommendations_for(analysis, pattern)
                if delivers_order(
                    r.candidate.elements, r.candidate.condition_sql, pattern, r.candidate.method
                )
            ),
            None,
        )
        if suggestion is None:
            if any(o.expression for o in pattern.order_by):
                continue  # no sensible plain-column index to propose
            fixed = equality_keys(pattern)
            leading = tuple(
                dict.fromkeys(
                    p.column
                    for p in pattern.predicates
                    if not p.expression and normalise_key(p.key) in fixed
                )
            )
            suggestion = btree_suggestion(analysis, pattern.table, (*leading, *pattern.order_by))
        columns = tuple(o.key + (" DESC" if o.descending else "") for o in pattern.order_by)
        yield Problem(
            pattern.query_id,
            pattern.table,
            columns,
            suggestion,
            details=(("limit", str(pattern.limit)),),
        )
