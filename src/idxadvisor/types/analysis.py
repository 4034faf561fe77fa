"""A run of the pipeline: what was asked and everything each stage found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import Advice
from idxadvisor.types.schema import Schema
from idxadvisor.types.workload import Skipped, Workload


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    project_dir: Path | None = None  # None: the current directory, if it holds manage.py
    settings: str | None = None
    workload_files: tuple[Path, ...] = ()  # .sql files or capture files
    paths: tuple[Path, ...] | None = None  # only these source files (check); None: all
    static: bool = True  # scan the source for querysets
    database_url: str | None = None
    use_settings_db: bool = False
    from_pg_stat_statements: bool = False
    # Where the live database came from, for the announcement: "" (the command line),
    # "DATABASE_URL" (that environment variable), "[tool.idxadvisor] use_settings_db"…
    database_source: str = ""
    # Queries reached only from tests, factories, fixtures or migrations are listed but drive
    # no proposal unless this is set (--include-test-queries).
    include_test_queries: bool = False
    max_index_bytes: int | None = None  # live selection budget (estimated index bytes)


@dataclass(frozen=True, slots=True)
class LiveChoice:
    """Which database a run uses, if any, and where that choice came from."""

    database_url: str | None = None
    use_settings_db: bool = False
    source: str = ""  # "" for the command line; else shown as "(from …)"
    note: str = ""  # an opt-in that found nothing (its variable unset), said once on stderr


@dataclass(frozen=True, slots=True)
class Analysis:
    request: AnalysisRequest
    root: Path | None  # project root, None for SQL-only runs
    statements: int  # as found, before deduplication
    workload: Workload
    patterns: tuple[AccessPattern, ...]
    schema: Schema
    advice: Advice

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        """Everything not analysed, from every stage, each with its reason."""
        return (*self.workload.skipped, *self.advice.skipped)
