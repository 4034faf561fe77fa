"""What keeps a finding out of the report: an inline comment, the configuration, a baseline.

* ``# idxadvisor: ignore[IDX001]`` (or a bare ``# idxadvisor: ignore``) on the queryset's first
  line or on the last line of the expression that starts there;
* ``ignore = ["IDX002"]`` in ``[tool.idxadvisor]`` or ``--ignore``: codes never reported;
* a baseline (``--write-baseline FILE``, then ``--baseline FILE`` or ``baseline = "FILE"``):
  the findings an existing codebase already has, so a hook reports only what a change adds.

A baseline entry is keyed by a fingerprint of the finding's code, file, enclosing function or
class (its qualified name, not its line: a comment added above it must not revive it), table
and query shape, and counts how many such findings there were; more than that count are new.

>>> text = dumps_baseline([BaselineEntry("IDX001", "app/q.py", "f", "t", "abc")])
>>> read_baseline_text(text) == {fingerprint("IDX001", "app/q.py", "f", "t", "abc"): 1}
True
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from idxadvisor.checks.registry import CHECKS
from idxadvisor.checks.source import SourceFile
from idxadvisor.errors import UsageError

T = TypeVar("T")

BASELINE_VERSION = 1
_ORDER = ("path", "scope", "code", "table", "fingerprint")
_IGNORE = re.compile(r"#\s*idxadvisor:\s*ignore\b(?:\[([^\]]*)\])?", re.IGNORECASE)


def inline_codes(source: SourceFile | None, line: int, col: int) -> frozenset[str]:
    """Codes an ``# idxadvisor: ignore[...]`` comment suppresses at this place."""
    if source is None:
        return frozenset()
    codes: set[str] = set()
    for at in {line, source.last_line(line, col)}:
        for match in _IGNORE.finditer(source.comment(at)):
            if match.group(1) is None:
                return frozenset(CHECKS)
            codes.update(c.strip().upper() for c in match.group(1).split(",") if c.strip())
    return frozenset(codes)


def codes(given: Iterable[str]) -> frozenset[str]:
    """Comma-separated check codes, validated. Raises :class:`UsageError` for unknown ones."""
    out = set()
    for raw in given:
        for code in filter(None, (c.strip().upper() for c in raw.split(","))):
            if code not in CHECKS:
                raise UsageError(f"unknown check code {code} (known: {', '.join(sorted(CHECKS))})")
            out.add(code)
    return frozenset(out)


# --- Baselines ---------------------------------------------------------------------------------


def fingerprint(code: str, path: str, scope: str, table: str, shape: str) -> str:
    """A finding's identity in a baseline: stable across runs, machines and line moves."""
    text = "\0".join((code, path, scope, table, shape))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class BaselineEntry:
    code: str
    path: str  # relative to the project root, "/"-separated
    scope: str  # qualified name of the enclosing function or class, "<module>" at top level
    table: str
    shape: str  # the query's fingerprint (its SQL with the values taken out)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.code, self.path, self.scope, self.table, self.shape)


def dumps_baseline(entries: Iterable[BaselineEntry], keep: Iterable[dict] = ()) -> str:
    """The baseline file: JSON, entries sorted, so the same findings give the same bytes.

    ``keep``: rows of an earlier baseline to carry over as they are."""
    counted = Counter(entries)
    rows = [
        {
            "fingerprint": e.fingerprint,
            "code": e.code,
            "path": e.path,
            "scope": e.scope,
            "table": e.table,
            "count": n,
        }
        for e, n in counted.items()
    ]
    rows += [dict(r) for r in keep]
    rows.sort(key=lambda r: tuple(str(r.get(k, "")) for k in _ORDER))
    return (
        json.dumps(
            {"idxadvisor_baseline": BASELINE_VERSION, "findings": rows}, indent=2, sort_keys=True
        )
        + "\n"
    )


def is_baseline(text: str) -> bool:
    """Whether a file holds a baseline of ours, so ``--write-baseline`` may replace it."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and "idxadvisor_baseline" in data


def read_baseline_text(text: str, where: str = "baseline") -> dict[str, int]:
    """Fingerprint → how many findings of it the baseline accepts."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where}: not a baseline file (invalid JSON: {exc})") from exc
    if not isinstance(data, dict) or data.get("idxadvisor_baseline") != BASELINE_VERSION:
        raise UsageError(
            f"{where}: not an idxadvisor baseline (write one with "
            "idxadvisor check --write-baseline FILE)"
        )
    out: dict[str, int] = {}
    for row in data.get("findings") or []:
        if not (
            isinstance(row, dict)
            and isinstance(row.get("fingerprint"), str)
            and isinstance(row.get("count", 1), int)
        ):
            raise UsageError(f"{where}: malformed entry {row!r}")
        out[row["fingerprint"]] = out.get(row["fingerprint"], 0) + row.get("count", 1)
    return out


def read_baseline(path: Path) -> dict[str, int]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"no such baseline file: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read baseline {path}: {exc}") from exc
    return read_baseline_text(text, str(path))


def baseline_rows(path: Path) -> list[dict]:
    """The rows of an existing baseline (to keep those of files a run did not check)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [r for r in data.get("findings") or [] if isinstance(r, dict)]


def accept(keyed: Iterable[tuple[str, T]], baseline: Mapping[str, int]) -> tuple[list[T], int]:
    """Items (fingerprint, item) in report order, less those the baseline accepts (the first
    ``count`` of each fingerprint); returns the rest and how many were accepted."""
    left = dict(baseline)
    out: list[T] = []
    accepted = 0
    for key, item in keyed:
        if left.get(key, 0) > 0:
            left[key] -= 1
            accepted += 1
        else:
            out.append(item)
    return out, accepted
