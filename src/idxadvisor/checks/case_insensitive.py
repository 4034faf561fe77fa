"""IDX003 — a case-insensitive lookup without an expression index.

``iexact`` (and ``istartswith``) compile to ``UPPER(column) = UPPER(value)`` on PostgreSQL. An
index on the column itself cannot serve that comparison, because it holds the values as written,
not upper-cased: the planner scans the table and upper-cases every row. An index on the
expression ``UPPER(column)`` — ``models.Index(Upper("email"), name=...)`` — holds exactly what
the query compares, so the lookup becomes an index scan. (A ``citext`` column or a
case-insensitive collation are the alternatives when every comparison is case-insensitive.)
See https://www.postgresql.org/docs/current/indexes-expressional.html.
"""

from __future__ import annotations

from collections.abc import Iterator

from idxadvisor.checks import Problem, register
from idxadvisor.checks._support import (
    TRIGRAM_METHODS,
    django_expression,
    field_namer,
    index_leads_with,
    index_name,
    is_case_insensitive,
    normalise_key,
    recommendations_for,
    served,
    suggestion_of,
    usable_indexes,
)
from idxadvisor.types.access import Op
from idxadvisor.types.analysis import Analysis
from idxadvisor.types.schema import IndexElement


@register(
    code="IDX003",
    name="case-insensitive-lookup",
    summary="A case-insensitive lookup (iexact) with no index on the UPPER()/LOWER() expression.",
    message=(
        "{subject} compares {expression} on {table} case-insensitively with no expression index; "
        "suggest {suggestion}"
    ),
)
def case_insensitive(analysis: Analysis) -> Iterator[Problem]:
    for pattern in analysis.patterns:
        if served(analysis, pattern):
            continue
        for predicate in pattern.predicates:
            if predicate.op is Op.LIKE_ANY or not is_case_insensitive(predicate):
                continue  # a leading wildcard is IDX004's
            key = normalise_key(predicate.key)
            if any(
                i.method not in TRIGRAM_METHODS and index_leads_with(i, pattern, predicate.key)
                for i in usable_indexes(analysis.schema, pattern.table)
            ):
                continue
            suggestion = next(
                (
                    suggestion_of(r)
                    for r in recommendations_for(analysis, pattern)
                    if r.candidate.method not in TRIGRAM_METHODS
                    and any(normalise_key(e.key) == key for e in r.candidate.elements)
                ),
                None,
            )
            if suggestion is None:
                expression = django_expression(
                    predicate.key, field_namer(analysis, pattern.table)
                )
                if expression is None:
                    continue
                name = index_name(
                    pattern.table, (IndexElement(expression=key),)
                )
                suggestion = f'models.Index({expression}, name="{name}")'
            yield Problem(
                pattern.query_id,
                pattern.table,
                (predicate.column,),
                suggestion,
                details=(("expression", key),),
            )
