"""The workload's nouns: statements as found, queries as deduplicated, and what was skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Source = Literal["static", "capture", "sql", "pg_stat_statements"]

SkipKind = Literal["query", "file"]

@dataclass(frozen=True, slots=True, order=True)
class Origin:
    """A place in the user's code (or a workload file) a query comes from."""

    path: str
    line: int
    col: int = 0
    function: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as a capture source found it, before deduplication."""

    sql: str
    origin: Origin | None = None
    source: Source = "sql"
    calls: int = 1
    total_time_ms: float = 0.0
    model: str | None = None  # "app_label.ModelName" when the source knows it
    code: str | None = None  # the queryset expression as written, e.g. "Rule.objects.filter(...)"

@dataclass(frozen=True, slots=True)
class Query:
    """A distinct query shape of the workload."""

    id: str
    sql: str
    fingerprint: str
    source: Source
    origins: tuple[Origin, ...] = ()
    calls: int = 1
    total_time_ms: float = 0.0
    model: str | None = None
    code: str | None = None

    @property
    def weight(self) -> float:
        """How much this query matters: total time when measured, else how often it runs."""
        return self.total_time_ms if self.total_time_ms > 0 else float(self.calls)

@dataclass(frozen=True, slots=True)
class Skipped:
    """Something the run could not analyse, and why. Never dropped silently.

    ``kind`` says how much was lost: ``"query"`` for one statement or queryset, ``"file"``
    for a whole source or workload file that could not be read or parsed.

    >>> Skipped("no FROM", Origin("q.sql", 3)).kind
    'query'
    >>> Skipped("cannot parse: SyntaxError: invalid syntax", Origin("a.py", 3, 4), kind="file").kind
    'file'
    """

    reason: str
    origin: Origin | None = None
    sql: str | None = None
    kind: SkipKind = "query"

@dataclass(frozen=True, slots=True)
class Workload:
    queries: tuple[Query, ...] = ()
    skipped: tuple[Skipped, ...] = field(default=())

    def by_id(self) -> dict[str, Query]:
        return {q.id: q for q in self.queries}
