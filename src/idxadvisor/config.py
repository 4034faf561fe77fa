"""``[tool.idxadvisor]`` in ``pyproject.toml``: the project's idxadvisor settings.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "pyproject.toml").write_text(
    ...     '[tool.idxadvisor]\\nsettings = "mysite.settings"\\nignore = ["IDX002"]\\n')
    >>> cfg = load_config(d)
    >>> cfg.settings, cfg.ignore, cfg.root == d
    ('mysite.settings', ('IDX002',), True)

The file is found by walking up from the start directory (the project directory, else the
current one) to the first ``pyproject.toml`` that has a ``[tool.idxadvisor]`` table.

Keys: ``settings`` (Django settings module), ``exclude`` (globs of paths relative to the
``pyproject.toml``'s directory, never checked), ``ignore`` (check codes never reported), and the
opt-in to live mode for ``analyze`` and ``generate`` (read-only): ``database_url_env`` (the name
of an environment variable holding the database URL, e.g. ``"DATABASE_URL"``) or
``use_settings_db = true`` (the Django settings' default database). Without them ``generate``
never connects unless ``--database-url`` or ``--use-settings-db`` is given. ``partitioned``
(table names) tells ``generate`` which tables are partitioned when it reads no catalog.

    >>> _ = (d / "pyproject.toml").write_text(
    ...     '[tool.idxadvisor]\\ndatabase_url_env = "DATABASE_URL"\\n')
    >>> load_config(d).database_url_env
    'DATABASE_URL'
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from idxadvisor.errors import UsageError

KNOWN_KEYS = (
    "settings",
    "exclude",
    "ignore",
    "database_url_env",
    "use_settings_db",
    "partitioned",
    "baseline",
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None  # the pyproject.toml it came from; None: defaults
    settings: str | None = None
    exclude: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    database_url_env: str | None = None  # live mode from this environment variable (opt-in)
    use_settings_db: bool = False  # live mode on the settings' default database (opt-in)
    # Tables partitioned in the database, for generate without one (static mode): their
    # indexes are built partition by partition (CONCURRENTLY is refused on the parent).
    partitioned: tuple[str, ...] = ()
    # `check`'s baseline file (relative to the pyproject.toml): only new problems are reported.
    baseline: str | None = None

    @property
    def root(self) -> Path | None:
        """The directory ``exclude`` globs are relative to."""
        return self.path.parent if self.path else None

    def excludes(self, path: Path) -> bool:
        """Whether ``path`` (absolute, or relative to the config's directory) is excluded.

        A glob matches the path or any of its parent directories, so ``"legacy"`` and
        ``"legacy/*"`` both exclude ``legacy/views.py``; ``*`` also crosses ``/``.
        """
        if not self.exclude:
            return False
        rel = path
        if path.is_absolute() and self.root is not None:
            try:
                rel = path.resolve().relative_to(self.root.resolve())
            except ValueError:
                return False
        posix = PurePosixPath(rel.as_posix())
        candidates = [str(posix), *(str(p) for p in posix.parents if str(p) != ".")]
        return any(
            fnmatch.fnmatchcase(c, pattern.rstrip("/"))
            for pattern in self.exclude
            for c in candidates
        )


def find_pyproject(start: Path) -> Path | None:
    """The first ``pyproject.toml`` with a ``[tool.idxadvisor]`` table at or above ``start``."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and "idxadvisor" in _read(candidate).get("tool", {}):
            return candidate
    return None


def load_config(start: Path | None = None) -> Config:
    """The configuration that applies to ``start`` (default: the current directory).

    Raises :class:`UsageError` for a malformed file or a value of the wrong type.
    """
    path = find_pyproject(start or Path.cwd())
    if path is None:
        return Config()
    table = _read(path)["tool"]["idxadvisor"]
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.idxadvisor] must be a table")
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        raise UsageError(
            f"{path}: unknown key(s) in [tool.idxadvisor]: {', '.join(unknown)} "
            f"(known: {', '.join(KNOWN_KEYS)})"
        )
    settings = table.get("settings")
    if settings is not None and not (isinstance(settings, str) and settings.strip()):
        raise UsageError(f"{path}: [tool.idxadvisor] settings must be a module name string")
    env_name = table.get("database_url_env")
    if env_name is not None and not (isinstance(env_name, str) and _ENV_NAME.fullmatch(env_name)):
        raise UsageError(
            f"{path}: [tool.idxadvisor] database_url_env must name an environment variable, "
            'like "DATABASE_URL"'
        )
    use_settings_db = table.get("use_settings_db", False)
    if not isinstance(use_settings_db, bool):
        raise UsageError(f"{path}: [tool.idxadvisor] use_settings_db must be true or false")
    if env_name and use_settings_db:
        raise UsageError(
            f"{path}: [tool.idxadvisor] sets both database_url_env and use_settings_db; choose one"
        )
    baseline = table.get("baseline")
    if baseline is not None and not (isinstance(baseline, str) and baseline.strip()):
        raise UsageError(f"{path}: [tool.idxadvisor] baseline must be a file path string")
    return Config(
        path=path,
        baseline=baseline.strip() if baseline else None,
        database_url_env=env_name,
        use_settings_db=use_settings_db,
        settings=settings.strip() if settings else None,
        exclude=_strings(path, table, "exclude"),
        ignore=tuple(c.upper() for c in _strings(path, table, "ignore")),
        partitioned=_strings(path, table, "partitioned"),
    )


def _strings(path: Path, table: dict, key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{path}: [tool.idxadvisor] {key} must be a list of strings")
    return tuple(value)


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from exc
