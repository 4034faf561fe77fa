"""Writing a plan: every file or none, through the project's one atomic writer.

New files never replace an existing one, edited models files must still hold what was read,
and a failure midway restores what was there (:func:`idxadvisor.files.write_atomic` does each
file; this module makes the set of them all-or-nothing).
"""

from __future__ import annotations

from pathlib import Path

from idxadvisor.errors import UsageError
from idxadvisor.files import write_atomic, write_refusal
from idxadvisor.generate.results import (
    FileChange,
    GenerateError,
    MigrationPlan,
    WriteResult,
    display,
)


def write_plan(plan: MigrationPlan, dry_run: bool = False) -> WriteResult:
    """Write every file of the plan, or none (``dry_run``: only the preview)."""
    if dry_run:
        return WriteResult(dry_run=True, preview=preview(plan))
    files = plan.files
    for change in files:
        # The planner already leaves such files out; this is the last line of defence.
        refused = write_refusal(change.path, plan.root)
        if refused is not None:
            raise GenerateError(f"refusing to write {change.path}: {refused}")
    for change in files:
        current = _read_or_none(change.path)
        if change.before is None and current is not None:
            raise GenerateError(f"{change.path} already exists; not overwriting it")
        if change.before is not None and current != change.before:
            raise GenerateError(f"{change.path} changed while generating; run generate again")
    done: list[FileChange] = []
    try:
        for change in files:
            _write(change)
            done.append(change)
    except BaseException as exc:
        _undo(done)
        if isinstance(exc, OSError):
            raise GenerateError(f"cannot write {exc.filename or 'a file'}: {exc.strerror}") from exc
        if isinstance(exc, UsageError) and not isinstance(exc, GenerateError):
            raise GenerateError(str(exc)) from exc
        raise
    return WriteResult(written=tuple(c.path for c in files))


def _write(change: FileChange) -> None:
    before = change.before
    # A models file is replaced only while it holds exactly what the plan was made from.
    write_atomic(
        change.path,
        change.after,
        ours=None if before is None else (lambda current: current == before),
    )


def _undo(done: list[FileChange]) -> None:
    for change in reversed(done):
        if change.before is None:
            change.path.unlink(missing_ok=True)
        else:
            # Bound now, not a closure over the loop variable: ours holds what this run wrote.
            write_atomic(change.path, change.before, ours=change.after.__eq__)


def _read_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def preview(plan: MigrationPlan) -> str:
    """What ``--dry-run`` prints: each migration in full, then the diff of the models."""
    parts = []
    for m in plan.migrations:
        parts.append(f"# {display(m.file.path, plan.root)}\n{m.file.after}")
    for edit in plan.model_edits:
        parts.append(edit.diff(plan.root))
    return "\n".join(parts)
