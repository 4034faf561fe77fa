"""Index methods: one table of what each PostgreSQL access method can do.

Every rule asks this table instead of comparing method names, so a new method (a hash-index
rule, say) is one row here plus its rule.

>>> METHODS["btree"].ordered, METHODS["brin"].ordered
(True, False)
>>> method("brin").django_class, method("gin").supports_include
('BrinIndex', False)
>>> Op.LIKE_ANY in method("gin").seek_ops, Op.RANGE in method("hash").seek_ops
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass

from idxadvisor.types.access import Op

# The names themselves are nouns every stage uses (an index's ``method``): types/schema.py.
from idxadvisor.types.schema import BRIN, BTREE, GIN, GIST, HASH


@dataclass(frozen=True, slots=True)
class IndexMethod:
    name: str
    ordered: bool  # returns rows in key order (ORDER BY … LIMIT stops early)
    supports_include: bool  # INCLUDE (…) columns for index-only scans
    supports_unique: bool
    multicolumn: bool
    seek_ops: frozenset[Op]  # predicate operators a scan of it can use
    hypopg: bool  # HypoPG can create it hypothetically (what-if)
    django_class: str  # the Django index class that builds it
    django_import: str  # where that class comes from ("" for models.Index)
    name_suffix: str  # the last part of a generated index name
    cost: str  # what it costs, in words (size, writes)

    @property
    def seeks(self) -> bool:
        """Whether it seeks on plain comparisons (the advisor's seek/filter/order score);
        GIN and GiST serve other operators, judged by their own rules."""
        return bool(self.seek_ops & {Op.EQ, Op.RANGE})


METHODS: dict[str, IndexMethod] = {
    m.name: m
    for m in (
        IndexMethod(
            BTREE,
            ordered=True,
            supports_include=True,
            supports_unique=True,
            multicolumn=True,
            seek_ops=frozenset({Op.EQ, Op.IN, Op.RANGE, Op.IS_NULL, Op.NOT_NULL, Op.LIKE_PREFIX}),
            hypopg=True,
            django_class="Index",
            django_import="",
            name_suffix="idx",
            cost="",  # the B-tree cost is worked out per candidate (size, write overhead)
        ),
        IndexMethod(
            BRIN,
            ordered=False,
            supports_include=False,
            supports_unique=False,
            multicolumn=True,
            seek_ops=frozenset({Op.RANGE, Op.NOT_NULL}),
            hypopg=True,
            django_class="BrinIndex",
            django_import="django.contrib.postgres.indexes",
            name_suffix="brin",
            cost="A few pages whatever the table size; negligible cost on writes.",
        ),
        IndexMethod(
            GIN,
            ordered=False,
            supports_include=False,
            supports_unique=False,
            multicolumn=True,
            seek_ops=frozenset({Op.LIKE_ANY, Op.LIKE_PREFIX, Op.JSON}),
            hypopg=False,
            django_class="GinIndex",
            django_import="django.contrib.postgres.indexes",
            name_suffix="gin",
            cost=(
                "A GIN index is large (several entries per row) and slows writes more than a "
                "B-tree; needs the pg_trgm extension (the generated migration creates it)."
            ),
        ),
        IndexMethod(
            GIST,
            ordered=False,
            supports_include=True,
            supports_unique=False,
            multicolumn=True,
            seek_ops=frozenset({Op.LIKE_ANY, Op.RANGE}),
            hypopg=False,
            django_class="GistIndex",
            django_import="django.contrib.postgres.indexes",
            name_suffix="gist",
            cost="A GiST index is lossy and slower to build than a B-tree.",
        ),
        IndexMethod(
            HASH,
            ordered=False,
            supports_include=False,
            supports_unique=False,
            multicolumn=False,
            seek_ops=frozenset({Op.EQ}),
            hypopg=True,
            django_class="HashIndex",
            django_import="django.contrib.postgres.indexes",
            name_suffix="hash",
            cost="Equality only, one column; smaller than a B-tree on long values.",
        ),
    )
}


def method(name: str) -> IndexMethod:
    """The row for ``name`` (case-insensitive); an unknown method is treated as a B-tree's
    opposite: nothing ordered, nothing sought, so it never counts as serving a query."""
    found = METHODS.get(name.lower())
    if found is not None:
        return found
    return IndexMethod(
        name.lower(),
        ordered=False,
        supports_include=False,
        supports_unique=False,
        multicolumn=False,
        seek_ops=frozenset(),
        hypopg=False,
        django_class="",
        django_import="",
        name_suffix="idx",
        cost="",
    )


# Methods whose trigram operator classes serve a leading-wildcard LIKE.
TRIGRAM_METHODS = frozenset(m.name for m in METHODS.values() if Op.LIKE_ANY in m.seek_ops)
