"""Finding a Django project and setting Django up for it, with real projects on disk.

Locating needs no Django set-up and runs in this process; setting up runs in subprocesses
(Django's settings are global to a process).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from idxadvisor.errors import ProjectError, UsageError
from idxadvisor.project import DjangoProject, find_project, locate_project
from tests.helpers import EXAMPLE, ROOT, run_python

FIXTURE = ROOT / "tests" / "fixtures" / "staticproj"

LOAD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from idxadvisor.errors import ProjectError
    from idxadvisor.project import load_project, locate_project, setup_django

    try:
        project = load_project(Path(sys.argv[1]), sys.argv[2] or None)
        if len(sys.argv) > 3:  # a second project in the same process
            setup_django(locate_project(Path(sys.argv[3]), None))
    except ProjectError as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(0)
    from django.apps import apps
    from django.db import connections
    print(json.dumps({
        "root": str(project.root),
        "settings": project.settings,
        "models": sorted(m._meta.label for m in apps.get_models()),
        "connected": [c.alias for c in connections.all() if c.connection is not None],
    }))
    """
)


def load_in_subprocess(project_dir: Path, settings: str = "", *more: str) -> dict:
    run = run_python("-c", LOAD_SCRIPT, str(project_dir), settings, *more, cwd=project_dir)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_settings_come_from_manage_py() -> None:
    project = locate_project(FIXTURE)
    assert project == DjangoProject(
        FIXTURE.resolve(), "shopsite.settings", FIXTURE / "manage.py", (FIXTURE.resolve(),)
    )
    assert locate_project(EXAMPLE).settings == "alerting_project.settings"


def test_manage_py_in_an_immediate_subdirectory(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "site", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "src").mkdir()
    project = locate_project(tmp_path)
    # The directory given is the root (the scan covers all of it); manage.py's directory is
    # imported from first, as `python site/manage.py` would, then the root and src/.
    root = tmp_path.resolve()
    assert project.root == root
    assert project.manage_py == (tmp_path / "site" / "manage.py").resolve()
    assert project.import_roots == (root / "site", root, root / "src")


def test_explicit_settings_win_and_env_var_acts_like_manage_py(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert locate_project(FIXTURE, "shopsite.other").settings == "shopsite.other"
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "shopsite.from_env")
    assert locate_project(FIXTURE).settings == "shopsite.from_env"
    # --settings without manage.py: the given directory is the root
    assert locate_project(tmp_path, "x.settings").root == tmp_path.resolve()


def test_no_manage_py_is_a_one_line_project_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as err:
        locate_project(tmp_path)
    assert str(err.value) == (
        f"no Django project found in {tmp_path.resolve()}: no manage.py; pass --settings"
    )
    assert isinstance(err.value, UsageError)
    assert find_project(tmp_path) is None  # SQL-only runs go on without a project


def test_manage_py_without_settings_default(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("import sys\nprint(sys.argv)\n")
    with pytest.raises(ProjectError, match=r"manage.py does not set DJANGO_SETTINGS_MODULE"):
        locate_project(tmp_path)


def test_two_projects_side_by_side_are_ambiguous(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manage.py").write_text("")
    with pytest.raises(ProjectError, match="several Django projects"):
        locate_project(tmp_path)


def test_load_sets_django_up_without_connecting() -> None:
    loaded = load_in_subprocess(FIXTURE)  # its database is on port 1: nothing listens
    assert loaded["settings"] == "shopsite.settings"
    assert {"shop.Order", "shop.Customer", "auth.User"} <= set(loaded["models"])
    assert loaded["connected"] == []


def test_broken_settings_module_is_one_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "p", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "p" / "shopsite" / "settings.py").write_text("import nonexistent_pkg\n")
    error = load_in_subprocess(tmp_path / "p")["error"]
    assert error == (
        "settings module 'shopsite.settings' failed to import: "
        "ModuleNotFoundError: No module named 'nonexistent_pkg'"
    )
    missing = load_in_subprocess(tmp_path / "p", "shopsite.nope")["error"]
    assert missing.startswith("settings module 'shopsite.nope' failed to import: ")


def test_app_registry_error_is_one_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "p", ignore=shutil.ignore_patterns("__pycache__"))
    settings = tmp_path / "p" / "shopsite" / "settings.py"
    settings.write_text(settings.read_text() + "INSTALLED_APPS = [*INSTALLED_APPS, 'gone_app']\n")
    error = load_in_subprocess(tmp_path / "p")["error"]
    assert error == (
        "Django setup failed for settings 'shopsite.settings': "
        "ModuleNotFoundError: No module named 'gone_app'"
    )
    assert "\n" not in error


def test_second_project_in_one_process_is_refused() -> None:
    error = load_in_subprocess(FIXTURE, "", str(EXAMPLE))["error"]
    assert error == (
        "Django is already set up with settings 'shopsite.settings' in this process; "
        "cannot switch to 'alerting_project.settings'"
    )
