"""The examples in the docstrings are documentation: they must stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "idxadvisor.workload",
    "idxadvisor.patterns.extractor",
    "idxadvisor.schema.models",
    "idxadvisor.advisor.statistics",
    "idxadvisor.project",
    "idxadvisor.advisor.serving",
    "idxadvisor.advisor.rules.partial",
    "idxadvisor.advisor.rules.composite",
    "idxadvisor.advisor.rules.covering",
    "idxadvisor.advisor.rules.brin",
    "idxadvisor.advisor.rules.trigram",
    "idxadvisor.advisor.merge",
    "idxadvisor.advisor.redundant",
    "idxadvisor.advisor.naming",
    "idxadvisor.advisor.django_index",
    "idxadvisor.sources.sqlfile",
    "idxadvisor.sources.capture.workload_file",
    "idxadvisor.live.connection",
    "idxadvisor.live.verify",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
