"""Trigram GIN indexes: the one index that serves a leading-wildcard ``LIKE`` (``icontains``).

A B-tree can only seek on a known prefix; ``UPPER(message) LIKE UPPER('%rate limited%')`` has
none, so every row is read. A GIN index over the text's trigrams (``pg_trgm``'s
``gin_trgm_ops``) finds the rows holding all the pattern's trigrams, whatever their place, as
long as the searched text has three characters or more. It needs the ``pg_trgm`` extension
(``generate`` adds Django's ``TrigramExtension()`` to the migration) and costs more on writes
than a B-tree, so it is proposed beside the B-tree candidate of the same query, not instead.

>>> from idxadvisor.types.access import AccessPattern, Op, Predicate
>>> p = AccessPattern("q1", "log", "select", predicates=(Predicate(
...     "message", Op.LIKE_ANY, "UPPER(message) LIKE UPPER('%x%')",
...     expression="UPPER(message)", constants=("'%x%'",)),))
>>> c = trigram(p, None)
>>> c.method, c.elements[0].key, c.elements[0].opclass
('gin', 'UPPER(message)', 'gin_trgm_ops')
"""

from __future__ import annotations

from idxadvisor.advisor.methods import GIN
from idxadvisor.types.access import AccessPattern, Op, Predicate
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement, Table

OPCLASS = "gin_trgm_ops"


_TEXT_TYPES = ("varchar", "text", "char", "citext")


def _leading_wildcard(p: Predicate) -> bool:
    return any(c.strip("'").startswith(("%", "_")) for c in p.constants)


def trigram(pattern: AccessPattern, table: Table | None) -> IndexCandidate | None:
    """A trigram GIN index for the pattern's leading-wildcard ``LIKE``, or None."""
    # Only a pattern known to start with a wildcard: a "LIKE $1" of unknown shape is most often
    # an exact or prefix search, which a trigram index serves worse than a B-tree.
    likes = [p for p in pattern.predicates if p.op is Op.LIKE_ANY and _leading_wildcard(p)]
    if not likes or pattern.kind == "insert":
        return None
    p = likes[0]
    column = table.column(p.column) if table is not None else None
    if column is not None and not column.db_type.lower().startswith(_TEXT_TYPES):
        return None
    return IndexCandidate(
        table=pattern.table,
        elements=(IndexElement(column=p.column, expression=p.expression, opclass=OPCLASS),),
        method=GIN,
        serves=(pattern.query_id,),
        reasons=(
            f"{p.sql} has a leading wildcard: no B-tree can seek on it, so every row is read. "
            f"A trigram GIN index on {p.key} finds the matching rows directly (pg_trgm; "
            "searched text of three characters or more).",
        ),
    )
