"""The pre-commit hook, run by the real ``pre-commit`` tool on real commits.

The hook repository is a ``git clone`` of this repository with the working tree's uncommitted
changes committed into the clone; pre-commit installs it into its own virtualenv (from PyPI,
once per module: ``PRE_COMMIT_HOME`` is shared). The project is a small Django project in a
git repository whose ``.pre-commit-config.yaml`` is the README's snippet, exactly as written,
with only the repository URL and ``rev:`` pointed at the clone.
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

from tests.check_helpers import INDEX_IMPORTS, write_project, write_source
from tests.helpers import ROOT

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "",  # filled per module: no user git config leaks in
}

MODELS = """
from django.db import models


class AlertRule(models.Model):
    organisation = models.PositiveIntegerField(db_index=True)
    severity = models.CharField(max_length=16)
    name = models.CharField(max_length=100)
"""
CLEAN = """
from shop.models import AlertRule


def rules_of(org):
    return list(AlertRule.objects.filter(organisation=org))
"""
NEW_QUERY = '''"""Weekly report of critical rules."""

from shop.models import AlertRule


def named(name: str) -> list[AlertRule]:
    """The rules of that name in every organisation, for the weekly report."""
    return list(AlertRule.objects.filter(name=name))
'''


def _run(
    args: list[str], cwd: Path, env: dict[str, str], check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    full.update(env)
    proc = subprocess.run(args, cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def readme_config(repo: Path, rev: str) -> str:
    """The README's ``.pre-commit-config.yaml`` snippet, pointed at ``repo`` and ``rev``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", readme, re.S)
    assert found, "README has no ```yaml block starting with # .pre-commit-config.yaml"
    snippet, n_repo = re.subn(r"(- repo: )https://github\.com/\S+", rf"\g<1>{repo}", found.group(1))
    snippet, n_rev = re.subn(r"(\n\s+rev: )\S+", rf"\g<1>{rev}", snippet, count=1)
    assert n_repo == 1 and n_rev == 1, snippet
    return snippet


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not PRE_COMMIT.exists():
        pytest.fail(
            f"pre-commit is not installed next to {sys.executable} (test extra)", pytrace=False
        )
    home = tmp_path_factory.mktemp("home")
    return {
        **GIT_ENV,
        "HOME": str(home),
        "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-cache")),
    }


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Path, str]:
    """A clone of this repository with the working tree's changes committed; (path, sha)."""
    repo = tmp_path_factory.mktemp("hook") / "idxadvisor"
    _run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(repo)], ROOT.parent, env)
    listed = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT, env
    ).stdout
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, repo / name
        if source.is_file() and not source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif not source.exists():
            target.unlink(missing_ok=True)  # deleted in the working tree
    _run(["git", "add", "-A"], repo, env)
    if _run(["git", "status", "--porcelain"], repo, env).stdout.strip():
        _run(["git", "commit", "-q", "-m", "working tree"], repo, env)
    sha = _run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()
    return repo, sha


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], hook_repo: tuple[Path, str]
) -> Iterator[Path]:
    """A git repository holding a small Django project, with the README's hook installed."""
    repo = tmp_path_factory.mktemp("shop-repo")
    write_project(repo, MODELS, CLEAN)
    (repo / ".pre-commit-config.yaml").write_text(readme_config(*hook_repo))
    _run(["git", "init", "-q", "-b", "main"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-q", "-m", "shop as it is"], repo, env)  # before the hook exists
    _run([str(PRE_COMMIT), "install"], repo, env)
    # Build the hook's environment once (pip installs idxadvisor and Django into it).
    _run([str(PRE_COMMIT), "install-hooks"], repo, env)
    yield repo


def _commits(project: Path, env: dict[str, str]) -> int:
    return int(_run(["git", "rev-list", "--count", "HEAD"], project, env).stdout)


def test_clean_code_passes(project: Path, env: dict[str, str]) -> None:
    before = _commits(project, env)
    write_source(
        project,
        "shop/queries.py",
        CLEAN + "\n\ndef count_of(org):\n"
        "    return AlertRule.objects.filter(organisation=org).count()\n",
    )
    _run(["git", "add", "shop/queries.py"], project, env)
    passed = _run(["git", "commit", "-m", "count"], project, env, check=False)
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert re.search(r"^idxadvisor check\.+Passed$", output, re.MULTILINE), output
    assert _commits(project, env) == before + 1


def test_commit_adding_an_unindexed_filter_is_blocked_then_passes_with_the_index(
    project: Path, env: dict[str, str]
) -> None:
    before = _commits(project, env)
    (project / "shop" / "reports.py").write_text(NEW_QUERY)
    _run(["git", "add", "shop/reports.py"], project, env)
    blocked = _run(["git", "commit", "-m", "weekly report"], project, env, check=False)
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, output
    assert "idxadvisor check" in output and "Failed" in output
    line = next(
        (ln for ln in output.splitlines() if ln.startswith("shop/reports.py:8:17: IDX001 ")), None
    )
    assert line is not None, output
    assert "AlertRule.objects.filter(...) filters on shop_alertrule(name) " in line
    assert _commits(project, env) == before  # nothing was committed

    # Do what the message says: add the suggested index to AlertRule's Meta.indexes.
    suggestion = re.search(r"suggest (models\.Index\(.*\))$", line)
    assert suggestion, line
    models = (
        INDEX_IMPORTS
        + MODELS.strip("\n")
        + (f"\n\n    class Meta:\n        indexes = [{suggestion.group(1)}]\n")
    )
    (project / "shop" / "models.py").write_text(models)
    _run(["git", "add", "shop/models.py", "shop/reports.py"], project, env)
    passed = _run(["git", "commit", "-m", "weekly report, indexed"], project, env, check=False)
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert re.search(r"^idxadvisor check\.+Passed$", output, re.MULTILINE), output
    assert _commits(project, env) == before + 1


def test_inline_ignore_lets_the_commit_through(project: Path, env: dict[str, str]) -> None:
    digest = project / "shop" / "digest.py"
    code = (
        "from shop.models import AlertRule\n\n\n"
        "def warnings(severity):\n"
        "    return list(AlertRule.objects.filter(severity=severity))\n"
    )
    digest.write_text(code)
    _run(["git", "add", "shop/digest.py"], project, env)
    blocked = _run(["git", "commit", "-m", "digest"], project, env, check=False)
    assert blocked.returncode != 0
    assert "shop/digest.py:5:17: IDX001 " in blocked.stdout + blocked.stderr

    digest.write_text(code.replace("))\n", "))  # idxadvisor: ignore[IDX001]\n"))
    _run(["git", "add", "shop/digest.py"], project, env)
    result = _run(["git", "commit", "-m", "digest"], project, env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_with_a_baseline_a_comment_only_change_passes(project: Path, env: dict[str, str]) -> None:
    """An existing codebase: old problems are in the baseline, only new ones block."""
    legacy = project / "shop" / "legacy.py"
    legacy.write_text(
        "from shop.models import AlertRule\n\n\ndef by_severity(s):\n"
        "    return list(AlertRule.objects.filter(severity=s, name='x'))\n"
    )
    idxadvisor = PRE_COMMIT.with_name("idxadvisor")
    _run([str(idxadvisor), "check", "--write-baseline", "idxadvisor-baseline.json"], project, env)
    config = project / ".pre-commit-config.yaml"
    original = config.read_text()
    config.write_text(
        original.replace(
            "- id: idxadvisor-check\n",
            "- id: idxadvisor-check\n        args: [--baseline, idxadvisor-baseline.json]\n",
            1,
        )
    )
    try:
        _run(["git", "add", "-A"], project, env)
        _run(["git", "commit", "-q", "-m", "legacy", "--no-verify"], project, env)
        legacy.write_text("# Kept for the old reports.\n" + legacy.read_text())
        _run(["git", "add", "shop/legacy.py"], project, env)
        ok = _run(["git", "commit", "-m", "comment"], project, env, check=False)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        legacy.write_text(
            legacy.read_text() + "\n\ndef named(n):\n"
            "    return list(AlertRule.objects.filter(name=n, severity='y'))\n"
        )
        _run(["git", "add", "shop/legacy.py"], project, env)
        blocked = _run(["git", "commit", "-m", "new query"], project, env, check=False)
        output = blocked.stdout + blocked.stderr
        assert blocked.returncode != 0, output
        flagged = [ln for ln in output.splitlines() if " IDX00" in ln]
        assert len(flagged) == 1 and flagged[0].startswith("shop/legacy.py:10:"), output
    finally:
        _run(["git", "reset", "-q", "--hard", "HEAD"], project, env, check=False)
        config.write_text(original)
        _run(
            ["git", "commit", "-q", "-am", "no baseline", "--no-verify"], project, env, check=False
        )
