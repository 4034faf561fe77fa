"""A progress bar on stderr for a stage that takes a while; silent when nobody is watching.

A bar appears only when stderr is a terminal, output is not ``--quiet``, and the stage has
already run for :data:`DELAY` seconds (a quick stage never flickers one). Any stage can use it:

>>> with progress("reading", total=3) as bar:
...     for _ in range(3):
...         bar.advance()
>>> bar.done
3

:func:`set_quiet` is how the CLI's global ``--quiet`` turns every bar off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["DELAY", "Progress", "progress", "set_quiet"]

DELAY = 1.0  # seconds a stage runs before its bar shows
_quiet = False


def set_quiet(quiet: bool) -> None:
    """Turn progress bars off (``--quiet``) or back on, for the whole process."""
    global _quiet
    _quiet = quiet


def _watched() -> bool:
    stream = sys.stderr
    return not _quiet and stream is not None and hasattr(stream, "isatty") and stream.isatty()


class Progress:
    """Counts the work of one stage; draws a rich bar once the stage has run for a second."""

    def __init__(self, description: str, total: int | None) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._started = time.monotonic()
        self._shown = _watched()
        self._bar: Any = None
        self._task: Any = None

    def advance(self, step: int = 1) -> None:
        self.done += step
        if not self._shown:
            return
        if self._bar is None:
            if time.monotonic() - self._started < DELAY:
                return
            from rich.console import Console  # imported only when a bar is drawn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total)
        self._bar.update(self._task, completed=self.done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Progress]:
    """A :class:`Progress` for one stage, closed (the bar removed) when the stage ends."""
    bar = Progress(description, total)
    try:
        yield bar
    finally:
        bar.close()
