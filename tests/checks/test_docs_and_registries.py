"""The checks' and reports' docstring examples hold, and the registries are the one source of
the CLI's codes and format names."""

from __future__ import annotations

import doctest
import importlib

import pytest

from idxadvisor import report
from idxadvisor.checks import CHECKS
from tests.helpers import run_cli

MODULES = [
    "idxadvisor.checks",
    "idxadvisor.checks.registry",
    "idxadvisor.checks.source",
    "idxadvisor.checks.suppression",
    "idxadvisor.checks.runner",
    "idxadvisor.checks.rules._shared",
    "idxadvisor.report",
    "idxadvisor.report.findings",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_every_check_has_a_module_docstring_with_a_link_and_one_code() -> None:
    assert sorted(CHECKS) == [f"IDX00{i}" for i in range(len(CHECKS))]
    for code, check in CHECKS.items():
        assert check.docs.startswith(f"{code} — ") and check.docs_url.startswith("https://")
    assert [c.code for c in CHECKS.values() if c.fallback] == ["IDX001"]


@pytest.mark.parametrize("command", ["analyze", "check"])
def test_cli_format_choices_come_from_the_registry(command: str) -> None:
    run = run_cli(command, "--format", "no-such-format")
    assert run.returncode == 2
    for name in report.names(command):
        assert f"'{name}'" in run.stderr
    assert {f.name for f in report.FORMATS if f.command == command} == set(report.names(command))
    for f in report.FORMATS:
        f.render  # noqa: B018 - each entry's functions resolve
        assert callable(report._function(f.renderer)) and callable(report._function(f.recogniser))
