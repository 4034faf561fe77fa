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

from idxadvisor.checks import Problem, register
from idxadvisor.checks._support import (
    TRIGRAM_METHODS,
    django_expression,
    field_namer,
    index_name,
    normalise_key,
    recommendations_for,
    suggestion_of,
    usable_indexes,
)
from idxadvisor.types.access import Op
from idxadvisor.types.analysis import Analysis
from idxadvisor.types.schema import IndexElement


@register(
    code="IDX004",
    name="leading-wildcard-like",
    summary="A LIKE with a leading wildcard (contains/icontains) that only a trigram index serves.",
    message=(
        "{subject} searches {table}({columns}) with a leading-wildcard LIKE that a B-tree index "
        "cannot serve; suggest {suggestion} (django.contrib.postgres, pg_trgm extension)"
    ),
)
def leading_wildcard(analysis: Analysis) -> Iterator[Problem]:
    for pattern in analysis.patterns:
        for predicate in pattern.predicates:
            if predicate.op is not Op.LIKE_ANY:
                continue
            key = normalise_key(predicate.key)
            if any(
                i.method in TRIGRAM_METHODS and any(normalise_key(e.key) == key for e in i.elements)
                for i in usable_indexes(analysis.schema, pattern.table)
            ):
                continue
            suggestion = next(
                (
                    suggestion_of(r)
                    for r in recommendations_for(analysis, pattern)
                    if r.candidate.method in TRIGRAM_METHODS
                    and any(normalise_key(e.key) == key for e in r.candidate.elements)
                ),
                None,
            )
            if suggestion is None:
                suggestion = trigram_suggestion(analysis, pattern.table, predicate.column,
                                                predicate.expression)
            yield Problem(pattern.query_id, pattern.table, (predicate.column,), suggestion)


def trigram_suggestion(
    analysis: Analysis, table: str, column: str, expression: str | None
) -> str:
    """``GinIndex(OpClass(Upper("message"), name="gin_trgm_ops"), name=...)`` or, for a plain
    column, ``GinIndex(fields=[...], opclasses=["gin_trgm_ops"], name=...)``."""
    field_for = field_namer(analysis, table)
    key = normalise_key(expression) if expression else None
    element = IndexElement(column=None if key else column, expression=key)
    name = index_name(table, (element,), method="gin")
    wrapped = django_expression(expression, field_for) if expression else None
    if wrapped:
        return f'GinIndex(OpClass({wrapped}, name="gin_trgm_ops"), name="{name}")'
    return (
        f'GinIndex(fields=["{field_for(column)}"], opclasses=["gin_trgm_ops"], name="{name}")'
    )
