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

from idxadvisor.checks.registry import CheckContext, Problem, register
from idxadvisor.checks.rules._shared import folded_keys
from idxadvisor.sql.canonical import canonical
from idxadvisor.types.access import Op


@register(
    code="IDX003",
    name="case-insensitive-lookup",
    summary="A case-insensitive lookup (iexact) with no index on the UPPER()/LOWER() expression.",
    message=(
        "{subject} compares {expression} on {table} case-insensitively with no expression index; "
        "suggest {suggestion}"
    ),
)
def case_insensitive(context: CheckContext) -> Iterator[Problem]:
    for proposal in context.proposals:
        keys = set(folded_keys(proposal.recommendation))
        predicate = next(
            (
                p
                for p in proposal.pattern.predicates
                if p.op is not Op.LIKE_ANY and p.expression and canonical(p.key) in keys
            ),
            None,
        )
        if predicate is not None:
            expression = canonical(predicate.key)
            yield Problem((predicate.column,), (("expression", expression),), proposal=proposal)
