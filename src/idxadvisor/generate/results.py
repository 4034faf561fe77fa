"""What ``generate`` decides and writes: small frozen records shared by the planner
(:mod:`idxadvisor.generate.plan`) and the writer (:mod:`idxadvisor.generate.writer`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from idxadvisor.errors import UsageError


class GenerateError(UsageError):
    """``generate`` cannot go on (conflicting migrations, a file in the way…); nothing written."""


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file to write: ``before`` is None for a new file (never overwrite one)."""

    path: Path
    before: str | None
    after: str

    def diff(self, root: Path | None = None) -> str:
        shown = display(self.path, root)
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{shown}" if self.before is not None else "/dev/null",
                tofile=f"b/{shown}",
            )
        )


@dataclass(frozen=True, slots=True)
class PlannedMigration:
    app_label: str
    name: str  # "0002_idxadvisor_webhookdelivery_status"
    file: FileChange
    operations: tuple[str, ...]  # one line per index added or dropped, for the summary


@dataclass(frozen=True, slots=True)
class Skip:
    """An index left out, and what the user can do about it (exact code when it helps)."""

    name: str
    reason: str
    add_by_hand: str = ""


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    migrations: tuple[PlannedMigration, ...] = ()
    model_edits: tuple[FileChange, ...] = ()
    skipped: tuple[Skip, ...] = ()
    notes: tuple[str, ...] = ()
    root: Path | None = None  # for showing paths relative to the project

    @property
    def files(self) -> tuple[FileChange, ...]:
        return tuple(m.file for m in self.migrations) + self.model_edits

    @property
    def empty(self) -> bool:
        return not self.migrations


@dataclass(frozen=True, slots=True)
class WriteResult:
    written: tuple[Path, ...] = ()
    dry_run: bool = False
    preview: str = ""  # dry run: the migrations and a unified diff of the models


def display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)
