"""Every output format, registered once: the CLI's ``--format`` choices and the dispatch both
come from :data:`FORMATS`, so a format's name is written in one place.

``analyze`` renders an :class:`~idxadvisor.types.analysis.Analysis` (``table``, ``json``);
``check`` a :class:`~idxadvisor.checks.CheckResult` (``text``, ``json``, ``github``, ``sarif``).
Adding a format is one module with a ``render(payload) -> str`` function and one
:class:`Format` entry below (``is_ours`` tells a file it wrote, so ``--output`` may replace it).
Entries name their functions as ``"module:function"`` and import them only when used, so the
CLI's start-up (a pre-commit hook's latency) does not pay for ``rich``.

>>> names("analyze"), names("check")
(('table', 'json'), ('text', 'json', 'github', 'sarif'))
>>> get("check", "text").summary
'path:line:col: CODE message, one line each'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Command = Literal["analyze", "check"]


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    command: Command
    summary: str
    renderer: str  # "module:function", payload -> text
    recogniser: str  # "module:function", file text -> whether this format wrote it
    printer: str = ""  # "module:function", payload -> None: for a terminal (colours, width)

    def render(self, payload: Any) -> str:
        return _function(self.renderer)(payload)

    def is_ours(self, text: str) -> bool:
        return bool(_function(self.recogniser)(text))

    def emit(self, payload: Any, output: Path | None = None) -> None:
        """To ``output`` (atomically, never over a file we did not write), else stdout."""
        if output is not None:
            from idxadvisor.files import write_atomic

            write_atomic(output, _line_end(self.render(payload)), ours=self.is_ours)
        elif self.printer:
            _function(self.printer)(payload)
        else:
            sys.stdout.write(_line_end(self.render(payload)))  # nothing at all when clean


FORMATS: tuple[Format, ...] = (
    Format(
        "table",
        "analyze",
        "A report for people.",
        "idxadvisor.report.table:to_text",
        "idxadvisor.report.table:is_table_report",
        printer="idxadvisor.report.table:show",
    ),
    Format(
        "json",
        "analyze",
        "Stable, versioned JSON.",
        "idxadvisor.report.json_report:dumps",
        "idxadvisor.report.json_report:is_json_report",
    ),
    Format(
        "text",
        "check",
        "path:line:col: CODE message, one line each",
        "idxadvisor.report.findings:text",
        "idxadvisor.report.findings:is_check_report",
    ),
    Format(
        "json",
        "check",
        "the findings and skipped querysets as JSON",
        "idxadvisor.report.findings:json_text",
        "idxadvisor.report.findings:is_check_report",
    ),
    Format(
        "github",
        "check",
        "GitHub Actions workflow annotations",
        "idxadvisor.report.findings:github",
        "idxadvisor.report.findings:is_check_report",
    ),
    Format(
        "sarif",
        "check",
        "SARIF 2.1.0 for code scanning",
        "idxadvisor.report.findings:sarif_text",
        "idxadvisor.report.findings:is_check_report",
    ),
)


def names(command: Command) -> tuple[str, ...]:
    """The format names of a command, the first being its default."""
    return tuple(f.name for f in FORMATS if f.command == command)


def get(command: Command, name: str) -> Format:
    for f in FORMATS:
        if f.command == command and f.name == name:
            return f
    raise ValueError(f"unknown {command} format {name!r} (known: {', '.join(names(command))})")


def _function(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _line_end(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"
