"""The check registry: one check per module of :mod:`idxadvisor.checks.rules`, registered by
decorator with its code (``IDX000``…), name, summary and message template.

A check is a pure function of a :class:`CheckContext` (the analysis ``analyze`` made, and the
:class:`Proposal` s — each query for which ``analyze`` proposes an index, with that index). It
yields :class:`Problem` s. A *fallback* check (IDX001) sees only the proposals no other check
claimed, so every proposal is reported exactly once and under one code.

>>> from idxadvisor.checks import CHECKS
>>> CHECKS["IDX001"].name, CHECKS["IDX001"].fallback
('unindexed-filter', True)
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import Recommendation
from idxadvisor.types.analysis import Analysis
from idxadvisor.types.workload import Origin, Query


@dataclass(frozen=True, slots=True)
class Proposal:
    """A query for which the advisor proposes an index on one table, and that index.

    ``recommendation`` is the advisor's index for this query alone, so its name and key order
    do not depend on which other files were analysed with it. ``merged`` is the index
    ``analyze`` proposes for it across everything analysed, when that is another one (a
    B-tree it shares with a listing rather than a BRIN of its own): building both would be
    two indexes where one serves.
    """

    query: Query
    pattern: AccessPattern
    recommendation: Recommendation
    merged: Recommendation | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.query.id, self.pattern.table, self.recommendation.name)


@dataclass(frozen=True, slots=True)
class CheckContext:
    analysis: Analysis
    proposals: tuple[Proposal, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """What a check found, before it is placed in the code.

    A problem about a query carries its ``proposal``; one about a file (IDX000) its
    ``origin``. ``details`` fill the check's message template beyond the common fields
    (``table``, ``columns``, ``suggestion``; ``subject`` is added per place in the code).
    """

    columns: tuple[str, ...] = ()
    details: tuple[tuple[str, str], ...] = ()
    proposal: Proposal | None = None
    origin: Origin | None = None

    @property
    def table(self) -> str:
        return self.proposal.pattern.table if self.proposal else ""

    @property
    def suggestion(self) -> str:
        if self.proposal is None:
            return ""
        rec = self.proposal.recommendation
        return rec.django or rec.sql


CheckFunction = Callable[[CheckContext], Iterable[Problem]]


@dataclass(frozen=True, slots=True)
class Check:
    code: str  # "IDX001"
    name: str  # "unindexed-filter"
    summary: str  # one sentence
    message: str  # str.format template: {subject} {table} {columns} {suggestion} + details
    docs: str  # the check module's docstring: why it matters, and a link
    run: CheckFunction
    fallback: bool = False  # sees only the proposals no other check claimed

    @property
    def docs_url(self) -> str:
        found = re.search(r"https?://\S+", self.docs)
        return found.group(0).rstrip(".,)>") if found else ""

    def format(self, problem: Problem, subject: str) -> str:
        message = self.message.format(
            subject=subject,
            table=problem.table,
            columns=", ".join(problem.columns),
            suggestion=problem.suggestion,
            **dict(problem.details),
        )
        merged = problem.proposal.merged if problem.proposal is not None else None
        if merged is None:
            return message
        return (
            f"{message}; with the other queries analysed, analyze proposes {merged.name}, "
            "which serves this one too: build that one instead"
        )


CHECKS: dict[str, Check] = {}
_CODE = re.compile(r"IDX\d{3}")


def register(
    code: str, name: str, summary: str, message: str, *, fallback: bool = False
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function; its module's docstring becomes the check's documentation."""
    if not _CODE.fullmatch(code):
        raise ValueError(f"check code {code!r} is not IDX followed by three digits")

    def decorator(func: CheckFunction) -> CheckFunction:
        if code in CHECKS:
            raise RuntimeError(f"check code {code} registered twice")
        module = importlib.import_module(func.__module__)
        docs = (module.__doc__ or "").strip()
        CHECKS[code] = Check(code, name, summary, message, docs, func, fallback)
        return func

    return decorator


def load_rules() -> dict[str, Check]:
    """Import every module of :mod:`idxadvisor.checks.rules`, so each registers its check."""
    import pkgutil

    from idxadvisor.checks import rules

    for info in pkgutil.iter_modules(rules.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{rules.__name__}.{info.name}")
    return CHECKS
