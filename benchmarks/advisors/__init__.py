"""The advisors the benchmark compares, one module each, all answering with an :class:`Advice`.

Each ``advise(...)`` function looks at the benchmark database in its default-index state and
says which indexes to build; the runner builds them, times the workload and drops them again.
An advisor that cannot run here answers ``Advice(status="did not run: <reason>")`` instead of
failing the whole benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Advice:
    """What one advisor proposed, how long it took, and how to apply it.

    ``statements`` are CREATE INDEX statements the runner executes (autocommit, so CONCURRENTLY
    works). ``migrate_project`` is set instead when the advice is a Django project copy whose new
    migrations ``manage.py migrate`` applies (and ``migrate monitoring 0001`` reverts).
    """

    advisor: str
    status: str = "ok"  # "ok", or "did not run: <reason>"
    statements: tuple[str, ...] = ()
    migrate_project: Path | None = None
    advise_seconds: float | None = None
    applied_via: str = "SQL"
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ran(self) -> bool:
        return self.status == "ok"


def did_not_run(advisor: str, reason: str, **details: object) -> Advice:
    """An advisor that could not run here, with the reason in one line."""
    first_line = (reason.strip().splitlines() or ["unknown reason"])[-1][:300]
    return Advice(advisor=advisor, status=f"did not run: {first_line}", details=dict(details))
