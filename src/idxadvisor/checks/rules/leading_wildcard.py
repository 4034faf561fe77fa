"""IDX004 — a leading-wildcard LIKE that a B-tree cannot serve.

``contains`` and ``icontains`` compile to ``LIKE '%text%'`` (upper-cased for ``icontains``). A
B-tree index finds values by their beginning, so a pattern that starts with a wildcard gives it
nothing to search by: PostgreSQL reads every row. A trigram index of the ``pg_trgm`` extension
(GIN, operator class ``gin_trgm_ops``) indexes every three-letter piece of the text and serves
``LIKE``/``ILIKE`` with wildcards anywhere. Django builds it with
``GinIndex(OpClass(Upper("message"), name="gin_trgm_ops"), name=...)`` from
``django.contrib.postgres.indexes`` (add ``django.contrib.postgres`` to ``INSTALLED_APPS`` and a
``TrigramExtension()`` migration operation). Trigram indexes are large and slower to update:
consider full-text search when the column holds prose.
See https://www.postgresql.org/docs/current/pgtrgm.html#PGTRGM-INDEX.
"""

from __future__ import annotations

from collections.abc import Iterator

from idxadvisor.checks.registry import CheckContext, Problem, register
from idxadvisor.checks.rules._shared import is_trigram
from idxadvisor.types.access import Op


@register(
    code="IDX004",
    name="leading-wildcard-like",
    summary="A LIKE with a leading wildcard (contains/icontains) that only a trigram index serves.",
    message=(
        "{subject} searches {table}({columns}) with a leading-wildcard LIKE that a B-tree index "
        "cannot serve; suggest {suggestion} (django.contrib.postgres, pg_trgm extension)"
    ),
)
def leading_wildcard(context: CheckContext) -> Iterator[Problem]:
    for proposal in context.proposals:
        if not is_trigram(proposal.recommendation):
            continue
        columns = tuple(
            dict.fromkeys(p.column for p in proposal.pattern.predicates if p.op is Op.LIKE_ANY)
        )
        yield Problem(columns or proposal.recommendation.fields, proposal=proposal)
