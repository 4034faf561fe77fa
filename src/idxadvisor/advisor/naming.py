"""Index names: Django's scheme, so a generated name looks like one Django would pick.

``<table[:11]>_<first column[:7]>_<digest>_<suffix>``, at most 30 characters (Django's
``Index.max_name_length``), a valid identifier, and a digest over the whole definition (keys
with direction and operator class, predicate, INCLUDE, method) so it is stable across runs
and two different indexes on the same first column never collide.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.schema import IndexElement
>>> name = index_name(IndexCandidate("monitoring_integrationlog",
...     (IndexElement("organisation"), IndexElement("created_at", descending=True))))
>>> name.startswith("monitoring__organis_"), len(name) <= 30
(True, True)
"""

from __future__ import annotations

import re

# django-stubs 5.2 leave names_digest out; it is in django.db.backends.utils since Django 2.2.
from django.db.backends.utils import (  # type: ignore[attr-defined]
    names_digest,
    split_identifier,
)

from idxadvisor.advisor.methods import BTREE, method
from idxadvisor.types.advice import IndexCandidate

MAX_NAME_LENGTH = 30


def index_name(candidate: IndexCandidate) -> str:
    _, table = split_identifier(candidate.table)
    first = candidate.elements[0]
    column = first.column or re.sub(r"\W+", "_", first.key.lower()).strip("_") or "expr"
    # A B-tree's operator class makes another index on the same keys: (subject
    # varchar_pattern_ops) beside (subject) must not share its name. (A trigram GIN has one
    # operator class: its names stay what they were.)
    keys = [
        ("-" if e.descending else "")
        + e.key
        + (f" {e.opclass}" if e.opclass and candidate.method == BTREE else "")
        for e in candidate.elements
    ]
    suffix = method(candidate.method).name_suffix
    if candidate.method == BTREE and candidate.unique:
        suffix = "uniq"
    digest = names_digest(
        table,
        *keys,
        candidate.condition_sql or "",
        *candidate.include,
        candidate.method,
        length=6,
    )
    room = min(7, MAX_NAME_LENGTH - len(table[:11]) - len(digest) - len(suffix) - 3)
    name = f"{table[:11]}_{column[:room]}_{digest}_{suffix}"
    if not name[0].isalpha():
        name = "i" + name[: MAX_NAME_LENGTH - 1]
    return name
