"""Finding a Django project on disk and setting Django up for it, without touching a database.

>>> from pathlib import Path
>>> find_project(Path("/nonexistent-dir")) is None    # SQL-only runs need no project
True

``load_project(Path("examples/alerting"), None)`` finds ``manage.py``, reads its
``DJANGO_SETTINGS_MODULE`` default, puts the project root on ``sys.path`` and calls
``django.setup()`` once per process. Nothing here ever opens a database connection.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from idxadvisor.errors import ProjectError

_SETTINGS_ENV = "DJANGO_SETTINGS_MODULE"

# The settings module Django was set up with in this process (settings are process-global).
_configured_settings: str | None = None


@dataclass(frozen=True, slots=True)
class DjangoProject:
    """A Django project: its root directory (on sys.path), settings module and manage.py."""

    root: Path
    settings: str
    manage_py: Path | None = None


def locate_project(project_dir: Path | None, settings: str | None = None) -> DjangoProject:
    """Where the project is and which settings it uses; does not import anything.

    ``manage.py`` is looked for in ``project_dir`` (default: the current directory), then in its
    immediate subdirectories. Without ``settings`` the module comes from ``DJANGO_SETTINGS_MODULE``
    if set (as ``manage.py``'s ``setdefault`` would do), else from ``manage.py``'s default.
    """
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    base = base.resolve()
    if not base.is_dir():
        raise ProjectError(f"no Django project found in {base}: not a directory")
    manage_py = _find_manage_py(base)
    if settings:
        root = manage_py.parent if manage_py is not None else base
        return DjangoProject(root=root, settings=settings, manage_py=manage_py)
    if manage_py is None:
        raise ProjectError(f"no Django project found in {base}: no manage.py; pass --settings")
    from_env = os.environ.get(_SETTINGS_ENV)
    if from_env == _configured_settings:
        from_env = None  # the variable is ours, from an earlier set-up in this process
    module = from_env or _settings_from_manage_py(manage_py)
    return DjangoProject(root=manage_py.parent, settings=module, manage_py=manage_py)


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
    root = str(project.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    os.environ[_SETTINGS_ENV] = project.settings
    try:
        importlib.import_module(project.settings)
    except BaseException as exc:  # a settings file can raise anything, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ProjectError(
            f"settings module {project.settings!r} failed to import: {_one_line(exc)}"
        ) from exc
    import django
    from django.conf import settings as django_settings

    if django_settings.configured and _already_setup_with_other(project.settings):
        raise ProjectError(
            f"Django is already configured in this process with other settings; cannot set up "
            f"{project.settings!r}"
        )
    try:
        django.setup()
    except Exception as exc:
        raise ProjectError(
            f"Django setup failed for settings {project.settings!r}: {_one_line(exc)}"
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


def _find_manage_py(base: Path) -> Path | None:
    direct = base / "manage.py"
    if direct.is_file():
        return direct
    found = sorted(
        child / "manage.py"
        for child in base.iterdir()
        if child.is_dir() and not child.name.startswith(".") and (child / "manage.py").is_file()
    )
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(base)) for p in found)
        raise ProjectError(f"several Django projects in {base} ({names}); pass the one to use")
    return found[0] if found else None


def _settings_from_manage_py(manage_py: Path) -> str:
    """The literal of ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")`` in manage.py."""
    try:
        tree = ast.parse(manage_py.read_text(encoding="utf-8"), filename=str(manage_py))
    except (SyntaxError, UnicodeDecodeError, OSError) as exc:
        raise ProjectError(f"cannot read {manage_py}: {_one_line(exc)}") from exc
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and len(node.args) == 2
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
            and node.args[0].value == _SETTINGS_ENV  # type: ignore[attr-defined]
        ):
            return node.args[1].value  # type: ignore[attr-defined]
    raise ProjectError(f"{manage_py} does not set {_SETTINGS_ENV}; pass --settings")


def _already_setup_with_other(settings_module: str) -> bool:
    """True when someone else configured Django in this process for another module."""
    from django.conf import settings as django_settings

    configured_module = getattr(django_settings, "SETTINGS_MODULE", None)
    return configured_module is not None and configured_module != settings_module


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
