"""The pre-commit hook, run by the real ``pre-commit`` tool on real commits.

A temporary git repository holds a copy of the example project with the hook installed
(``pre-commit install``). The hook repository is a git copy of this working tree, installed by
pre-commit into its own virtualenv (from PyPI, once per test session: ``PRE_COMMIT_HOME`` is
shared by the module).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, ROOT

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "",  # filled per module: no user git config leaks in
}

NEW_QUERY = '''"""Weekly report of critical rules."""

from monitoring.models import AlertRule


def critical_rules(org: int) -> list[AlertRule]:
    """The organisation's critical rules, for the weekly report."""
    return list(AlertRule.objects.filter(organisation=org, severity="critical"))
'''


def _run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True,
         timeout: float = 900) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    full.update(env)
    proc = subprocess.run(args, cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not PRE_COMMIT.exists():
        pytest.fail(f"pre-commit is not installed next to {sys.executable} (test extra)",
                    pytrace=False)
    home = tmp_path_factory.mktemp("home")
    return {**GIT_ENV, "HOME": str(home),
            "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-cache"))}


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Path, str]:
    """A git repository with this working tree's package and hook definition; (path, commit)."""
    repo = tmp_path_factory.mktemp("idxadvisor-hook")
    for name in ("pyproject.toml", ".pre-commit-hooks.yaml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, repo / name)
    if not (repo / "README.md").exists():
        (repo / "README.md").write_text("idxadvisor\n")  # pyproject's readme must exist
    shutil.copytree(ROOT / "src", repo / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    _run(["git", "init", "-q", "-b", "main"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-q", "-m", "hook"], repo, env)
    sha = _run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()
    return repo, sha


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str],
            hook_repo: tuple[Path, str]) -> Iterator[Path]:
    """A git repository holding the example project, with the hook installed."""
    repo = tmp_path_factory.mktemp("alerting-repo")
    shutil.copytree(EXAMPLE, repo, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (repo / "pyproject.toml").write_text(
        '[tool.idxadvisor]\nsettings = "alerting_project.settings"\n'
    )
    path, sha = hook_repo
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {path}\n    rev: {sha}\n    hooks:\n      - id: idxadvisor-check\n"
    )
    _run(["git", "init", "-q", "-b", "main"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-q", "-m", "example as it is"], repo, env)  # before the hook exists
    _run([str(PRE_COMMIT), "install"], repo, env)
    # Build the hook's environment once (pip installs idxadvisor and Django into it).
    _run([str(PRE_COMMIT), "install-hooks"], repo, env)
    yield repo


def test_commit_adding_an_unindexed_filter_is_blocked_then_passes_with_the_index(
    project: Path, env: dict[str, str]
) -> None:
    (project / "monitoring" / "reports.py").write_text(NEW_QUERY)
    _run(["git", "add", "monitoring/reports.py"], project, env)
    blocked = _run(["git", "commit", "-m", "weekly report"], project, env, check=False)
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, output
    assert "idxadvisor check" in output and "Failed" in output
    line = next(
        (ln for ln in output.splitlines() if ln.startswith("monitoring/reports.py:8:17: IDX001 ")),
        None,
    )
    assert line is not None, output
    assert "AlertRule.objects.filter(...) filters on monitoring_alertrule(" in line
    head = _run(["git", "rev-list", "--count", "HEAD"], project, env).stdout.strip()
    assert head == "1"  # nothing was committed

    # Do what the message says: add the suggested index to AlertRule's Meta.indexes.
    suggestion = re.search(r"suggest (models\.Index\(.*\))$", line)
    assert suggestion, line
    models_py = project / "monitoring" / "models.py"
    source = models_py.read_text()
    anchor = "    def __str__(self) -> str:\n        return self.name\n"
    assert source.count(anchor) == 1
    models_py.write_text(
        "from django.db.models import Q  # noqa: F401\n"
        + source.replace(
            anchor,
            f"    class Meta:\n        indexes = [{suggestion.group(1)}]\n\n" + anchor,
        )
    )
    _run(["git", "add", "monitoring/models.py", "monitoring/reports.py"], project, env)
    passed = _run(["git", "commit", "-m", "weekly report, indexed"], project, env, check=False)
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert re.search(r"^idxadvisor check\.+Passed$", output, re.MULTILINE), output
    assert _run(["git", "rev-list", "--count", "HEAD"], project, env).stdout.strip() == "2"


def test_inline_ignore_lets_the_commit_through(project: Path, env: dict[str, str]) -> None:
    digest = project / "monitoring" / "digest.py"
    code = (
        "from monitoring.models import IntegrationLog\n\n\n"
        "def warnings(org):\n"
        "    return list(IntegrationLog.objects.filter(organisation=org, level='warning'))\n"
    )
    digest.write_text(code)
    _run(["git", "add", "monitoring/digest.py"], project, env)
    blocked = _run(["git", "commit", "-m", "digest"], project, env, check=False)
    assert blocked.returncode != 0
    assert "monitoring/digest.py:5:17: IDX001 " in blocked.stdout + blocked.stderr

    digest.write_text(code.replace("))\n", "))  # idxadvisor: ignore[IDX001]\n"))
    _run(["git", "add", "monitoring/digest.py"], project, env)
    result = _run(["git", "commit", "-m", "digest"], project, env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
