"""Writing files safely: atomically, and never over a file idxadvisor did not create."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from idxadvisor.errors import UsageError


def write_atomic(path: Path, text: str, *, ours: Callable[[str], bool] | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    An existing file is replaced only when ``ours`` recognises its content as something
    idxadvisor wrote; otherwise the write is refused and the file left alone.
    """
    if path.exists():
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"refusing to overwrite {path}: cannot read it ({exc})") from exc
        if ours is None or not ours(current):
            raise UsageError(
                f"refusing to overwrite {path}: it was not written by idxadvisor; "
                "choose another --output or remove it"
            )
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
