"""Finding a Django project on disk and setting Django up for it, without touching a database.

>>> from pathlib import Path
>>> find_project(Path("/nonexistent-dir")) is None    # SQL-only runs need no project
True

``load_project(Path("examples/alerting"), None)`` finds ``manage.py``, reads its
``DJANGO_SETTINGS_MODULE`` default, puts the project's import roots on ``sys.path`` and calls
``django.setup()`` once per process. Nothing here ever opens a database connection.

Everything is compiled and rendered for PostgreSQL whatever ``DATABASES`` says: a project may
run SQLite or MySQL on the developer's machine and PostgreSQL in production. A database alias
whose ENGINE is not PostgreSQL is seen, in this process only, through a PostgreSQL stand-in
that never connects (:func:`postgres_stand_in`), so the configured backend is never imported
(no driver needed, no SQLite file created) and table names are truncated as PostgreSQL would.
``settings.DATABASES`` itself is left as the project wrote it.

>>> stand_in = postgres_stand_in({"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3",
...                               "TIME_ZONE": None})
>>> stand_in["ENGINE"], stand_in["NAME"], stand_in["TIME_ZONE"]
('django.db.backends.postgresql', 'idxadvisor_never_connects', None)
"""

from __future__ import annotations

import ast
import copy
import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idxadvisor.errors import ProjectError, one_line

_SETTINGS_ENV = "DJANGO_SETTINGS_MODULE"

# The settings module Django was set up with in this process (settings are process-global).
_configured_settings: str | None = None

# The connection alias statements are compiled for: a PostgreSQL backend that never connects.
COMPILE_ALIAS = "__idxadvisor_static__"
_POSTGRES_ENGINES = ("postgresql", "postgis")
# Where a stand-in would connect if anything ever tried: a closed port, so it fails at once.
_NOWHERE = {
    "NAME": "idxadvisor_never_connects",
    "USER": "",
    "PASSWORD": "",
    "HOST": "127.0.0.1",
    "PORT": "1",
    "OPTIONS": {"connect_timeout": 1},
}


@dataclass(frozen=True, slots=True)
class DjangoProject:
    """A Django project: the directory to scan, its settings module and manage.py.

    ``root`` is the directory given on the command line, scanned as a whole even when
    ``manage.py`` sits in a subfolder (a reusable app's ``tests/`` or ``example_project/``).
    ``import_roots`` are the directories put on ``sys.path``, the first that holds a file
    giving its module name: manage.py's directory, the root, ``root/src`` when it exists.
    """

    root: Path
    settings: str
    manage_py: Path | None = None
    import_roots: tuple[Path, ...] = ()

    def module_root(self, path: Path) -> Path:
        """The import root a source file's dotted module name is relative to.

        >>> p = DjangoProject(Path("/r"), "s", None, (Path("/r/tests"), Path("/r"), Path("/r/src")))
        >>> p.module_root(Path("/r/src/pkg/models.py")), p.module_root(Path("/r/pkg/a.py"))
        (PosixPath('/r/src'), PosixPath('/r'))
        """
        containing = [r for r in self.import_roots or (self.root,) if path.is_relative_to(r)]
        return max(containing, key=lambda r: len(r.parts)) if containing else self.root


def locate_project(project_dir: Path | None, settings: str | None = None) -> DjangoProject:
    """Where the project is and which settings it uses; does not import anything.

    ``manage.py`` is looked for in ``project_dir`` (default: the current directory), then in its
    immediate subdirectories. Without ``settings`` the module comes from ``DJANGO_SETTINGS_MODULE``
    if set (as ``manage.py``'s ``setdefault`` would do), else from ``manage.py``'s default.
    The root is always ``project_dir``: where manage.py lives does not narrow the scan.
    """
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    base = base.resolve()
    if not base.is_dir():
        raise ProjectError(f"no Django project found in {base}: not a directory")
    # With --settings, manage.py only adds an import root: several are no ambiguity then.
    manage_py = _find_manage_py(base, ambiguous_ok=bool(settings))
    if settings:
        return DjangoProject(base, settings, manage_py, _import_roots(base, manage_py))
    if manage_py is None:
        raise ProjectError(f"no Django project found in {base}: no manage.py; pass --settings")
    from_env = os.environ.get(_SETTINGS_ENV)
    if from_env == _configured_settings:
        from_env = None  # the variable is ours, from an earlier set-up in this process
    module = from_env or _settings_from_manage_py(manage_py)
    return DjangoProject(base, module, manage_py, _import_roots(base, manage_py))


def _import_roots(base: Path, manage_py: Path | None) -> tuple[Path, ...]:
    """manage.py's directory first (as ``python manage.py`` runs), then the root, then src/."""
    roots = [manage_py.parent] if manage_py is not None else []
    roots += [base, base / "src"]
    unique = dict.fromkeys(r for r in roots if r.is_dir())
    return tuple(unique)


def setup_django(project: DjangoProject) -> None:
    """Configure Django for ``project``: once per process; a second, different project fails."""
    global _configured_settings
    if _configured_settings is not None:
        if _configured_settings != project.settings:
            raise ProjectError(
                f"Django is already set up with settings {_configured_settings!r} in this "
                f"process; cannot switch to {project.settings!r}"
            )
        return
    # Importing the project must not leave __pycache__ directories in it.
    sys.dont_write_bytecode = True
    for root in reversed(project.import_roots or (project.root,)):
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
    os.environ[_SETTINGS_ENV] = project.settings
    try:
        importlib.import_module(project.settings)
    except BaseException as exc:  # a settings file can raise anything, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ProjectError(
            f"settings module {project.settings!r} failed to import: {one_line(exc)}"
        ) from exc
    import django
    from django.conf import settings as django_settings

    if django_settings.configured and _already_setup_with_other(project.settings):
        raise ProjectError(
            f"Django is already configured in this process with other settings; cannot set up "
            f"{project.settings!r}"
        )
    try:
        _postgres_everywhere()  # before setup: model classes ask the connection at creation
        django.setup()
    except Exception as exc:
        raise ProjectError(
            f"Django setup failed for settings {project.settings!r}: {one_line(exc)}"
        ) from exc
    _configured_settings = project.settings


def load_project(project_dir: Path | None, settings: str | None) -> DjangoProject:
    """Locate the project and set Django up for it (see :func:`locate_project`)."""
    project = locate_project(project_dir, settings)
    setup_django(project)
    return project


def find_project(project_dir: Path | None, settings: str | None = None) -> DjangoProject | None:
    """Like :func:`load_project`, but None when there is no manage.py and no ``settings``.

    For runs on SQL workload files alone, which need no Django project.
    """
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    if not settings and (not base.is_dir() or _find_manage_py(base.resolve()) is None):
        return None
    return load_project(project_dir, settings)


def postgres_stand_in(conf: dict[str, Any]) -> dict[str, Any]:
    """A never-connecting PostgreSQL version of a ``DATABASES`` entry (see the module doc)."""
    kept = {k: copy.deepcopy(v) for k, v in conf.items() if k not in ("ENGINE", *_NOWHERE)}
    return {**kept, "ENGINE": "django.db.backends.postgresql", **copy.deepcopy(_NOWHERE)}


def _is_postgres(conf: dict[str, Any]) -> bool:
    return any(name in str(conf.get("ENGINE", "")) for name in _POSTGRES_ENGINES)


def _postgres_everywhere() -> None:
    """Give Django's connection handler PostgreSQL stand-ins for the non-PostgreSQL aliases.

    The handler gets its own mapping (Django's defaults filled in first, as it always does), so
    ``settings.DATABASES`` still reads as configured (``--use-settings-db`` reports an SQLite
    default as such) and the compile alias added later is not written into the user's settings.
    """
    from django.db import connections

    configured = connections.settings
    connections.__dict__["settings"] = {
        alias: conf if _is_postgres(conf) else postgres_stand_in(conf)
        for alias, conf in configured.items()
    }


def compile_connection() -> Any:
    """The never-connecting PostgreSQL connection statements are compiled for (registered once).

    Every SQL text idxadvisor makes with Django (compiled querysets, the models' DDL, index SQL)
    goes through it, so it is PostgreSQL's and no server is ever asked anything.
    """
    from django.db import DEFAULT_DB_ALIAS, connections

    if COMPILE_ALIAS not in connections.settings:
        default = connections.settings[DEFAULT_DB_ALIAS]
        if _is_postgres(default):
            conf = {**copy.deepcopy(default), "NAME": default.get("NAME") or _NOWHERE["NAME"]}
        else:
            conf = postgres_stand_in(default)
        connections.settings[COMPILE_ALIAS] = conf
    connection = connections[COMPILE_ALIAS]
    if "pg_version" not in connection.__dict__:
        # A few compilers (JSON functions) ask the server version; answering it would connect.
        # Assume the oldest version this Django supports: its SQL runs on every newer server.
        minimum = connection.features.minimum_database_version
        assert minimum is not None  # the PostgreSQL backend always names one
        major = minimum[0]
        connection.__dict__["pg_version"] = major * 10000
        # select_for_update() refuses to compile in autocommit mode, and asking the mode would
        # connect: statements are compiled as if inside a transaction, where they run.
        connection.get_autocommit = lambda: False  # type: ignore[method-assign]
    return connection


def _find_manage_py(base: Path, *, ambiguous_ok: bool = False) -> Path | None:
    direct = base / "manage.py"
    if direct.is_file():
        return direct
    found = sorted(
        child / "manage.py"
        for child in base.iterdir()
        if child.is_dir() and not child.name.startswith(".") and (child / "manage.py").is_file()
    )
    if len(found) > 1 and ambiguous_ok:
        return None
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(base)) for p in found)
        raise ProjectError(f"several Django projects in {base} ({names}); pass the one to use")
    return found[0] if found else None


def _settings_from_manage_py(manage_py: Path) -> str:
    """The literal of ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")`` in manage.py."""
    try:
        tree = ast.parse(manage_py.read_text(encoding="utf-8"), filename=str(manage_py))
    except (SyntaxError, UnicodeDecodeError, OSError) as exc:
        raise ProjectError(f"cannot read {manage_py}: {one_line(exc)}") from exc
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and len(node.args) == 2
            and isinstance(key := node.args[0], ast.Constant)
            and key.value == _SETTINGS_ENV
            and isinstance(value := node.args[1], ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    raise ProjectError(f"{manage_py} does not set {_SETTINGS_ENV}; pass --settings")


def _already_setup_with_other(settings_module: str) -> bool:
    """True when someone else configured Django in this process for another module."""
    from django.conf import settings as django_settings

    configured_module = getattr(django_settings, "SETTINGS_MODULE", None)
    return configured_module is not None and configured_module != settings_module
