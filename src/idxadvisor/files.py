"""Writing files safely: atomically, never over a file idxadvisor did not create, and only
where the project allows (:func:`write_refusal`)."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import site
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path

from idxadvisor.errors import UsageError


def write_atomic(path: Path, text: str, *, ours: Callable[[str], bool] | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: the only writer of
    project files (reports, migrations, models), so a reader never sees half a file.

    An existing file is replaced only when ``ours`` recognises its content as something
    idxadvisor wrote (or, for a models file it edits, as what it read); otherwise the write is
    refused and the file left alone. A replaced file keeps its permissions; a new one gets the
    umask's, as ``open()`` would give, and is never put over a file that appears meanwhile.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "report.txt"
    >>> write_atomic(target, "one\\n")
    >>> write_atomic(target, "two\\n", ours=lambda current: current == "one\\n")
    >>> target.read_text()
    'two\\n'
    >>> write_atomic(target, "three\\n")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    idxadvisor.errors.UsageError: refusing to overwrite ...: it was not written by idxadvisor; ...
    """
    existing = path.exists()
    if existing:
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
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the mode the user expects.
        mode = path.stat().st_mode & 0o7777 if existing else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        if existing:
            os.replace(tmp, path)
        else:
            _create(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _create(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` only if nothing is there (a hard link fails on any entry)."""
    try:
        os.link(tmp, path)
    except FileExistsError as exc:
        raise UsageError(
            f"cannot write {path}: something is already there (a file or a link); "
            "not overwriting it"
        ) from exc
    except OSError:
        # No hard links on this filesystem: check once more, then rename.
        if os.path.lexists(path):
            raise UsageError(f"cannot write {path}: something is already there") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_refusal(path: Path, root: Path | None) -> str | None:
    """Why idxadvisor must not write ``path`` for the project at ``root``; None when it may.

    Only files inside the project directory (symlinks resolved) may be written, and never one
    in a Python library directory or of an installed distribution, even one that lives inside
    the project (a ``.venv`` there, say). ``root`` None skips the project check only.

    >>> import tempfile
    >>> project = Path(tempfile.mkdtemp())
    >>> write_refusal(project / "app" / "models.py", project) is None
    True
    >>> "outside the project directory" in write_refusal(Path("/elsewhere/models.py"), project)
    True
    >>> import django
    >>> print(write_refusal(Path(django.__file__), None))  # doctest: +ELLIPSIS
    it belongs to the installed package Django (...)
    """
    target = path.resolve()
    installed = installed_code(target)
    if installed is not None:
        return installed
    if root is not None:
        base = root.resolve()
        if not target.is_relative_to(base):
            return f"it is outside the project directory {base}"
    return None


def installed_code(path: Path) -> str | None:
    """Why ``path`` is installed code (a distribution's file, the standard library or a
    site-packages directory), or None when it is not.

    >>> installed_code(Path(functools.__file__))  # doctest: +ELLIPSIS
    'it is in the Python library directory ...'
    """
    target = path.resolve()
    for name, location in _installed_roots():
        if target.is_relative_to(location):
            return f"it belongs to the installed package {name} ({location})"
    for library in _library_dirs():
        if target.is_relative_to(library):
            return f"it is in the Python library directory {library}"
    if {"site-packages", "dist-packages"} & set(target.parts):
        # Another interpreter's packages (on PYTHONPATH, say): installed code all the same.
        return "it is in a site-packages directory (installed code)"
    return None


@functools.cache
def _installed_roots() -> tuple[tuple[str, Path], ...]:
    """(distribution, top-level path) of every installed distribution's files on sys.path."""
    found: dict[Path, str] = {}
    for dist in importlib.metadata.distributions():
        # Only real install records: an egg-info without installed-files.txt (a development
        # checkout's) lists its sources in SOURCES.txt, which are the user's own files.
        if dist.read_text("RECORD") is None and dist.read_text("installed-files.txt") is None:
            continue
        base = Path(str(dist.locate_file("")))
        name = None
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".pth")):
                continue
            top = (base / parts[0]).resolve()
            if top not in found:
                name = name or dist.metadata["Name"] or "?"
                found[top] = name
    return tuple((name, path) for path, name in found.items())


@functools.cache
def _library_dirs() -> tuple[Path, ...]:
    """The interpreter's library directories: the standard library and site-packages."""
    dirs = {sysconfig.get_path(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    dirs.add(site.getusersitepackages())
    return tuple(Path(d).resolve() for d in dirs if d)


def display_path(path: Path, base: Path | None = None) -> str:
    """``path`` as messages show it: relative to ``base`` (default: the current directory)
    when it lies below it, else as given.

    >>> display_path(Path("/srv/app/shop/models.py"), Path("/srv/app"))
    'shop/models.py'
    >>> display_path(Path("/elsewhere/x.sql"), Path("/srv/app"))
    '/elsewhere/x.sql'
    """
    try:
        return path.resolve().relative_to((base or Path.cwd()).resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)
