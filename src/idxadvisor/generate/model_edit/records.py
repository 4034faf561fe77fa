"""The small records of model editing: what is edited, what Django says is inherited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from idxadvisor.errors import UsageError

MetaList = Literal["indexes", "constraints"]

# Longest line we produce before breaking a call's arguments over several lines (ruff's default
# plus a margin the user's own config likely allows).
_MAX_LINE = 99


class UnsafeEdit(UsageError):
    """The models file cannot be edited safely; the message says why."""


@dataclass(frozen=True, slots=True)
class Inherited:
    """What the model inherits, as Django sees it (the caller asks Django; this module cannot).

    ``owner``: the class name of the abstract parent whose ``Meta`` the model gets when it
    declares none (Django: the first class in the MRO with a ``Meta``), None when there is
    none, so a new ``Meta`` hides nothing. ``declares``: that ``Meta`` has the list being
    edited, so a new list starts with its entries (``[*Base.Meta.indexes, …]``), as Django's
    documentation on Meta inheritance shows.
    """

    owner: str | None = None
    declares: bool = False


@dataclass(frozen=True, slots=True)
class NeededImport:
    """``from <module> import <name>``, e.g. ``NeededImport("django.db.models", "Q")``."""

    module: str
    name: str
