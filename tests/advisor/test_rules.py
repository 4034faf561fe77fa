"""The advisor's shape: rules as passes, one table of index methods, examples that hold."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import idxadvisor.advisor as advisor
from idxadvisor.advisor import PROPOSERS, REFINERS
from idxadvisor.advisor.methods import METHODS, TRIGRAM_METHODS, method

ADVISOR_DIR = Path(advisor.__file__).parent
MODULES = [
    *sorted(
        f"idxadvisor.advisor.{m.name}"
        for m in pkgutil.walk_packages([str(ADVISOR_DIR)])
        if not m.ispkg and m.name != "django_index"  # its examples run in tests/test_doctests.py
    ),
    "idxadvisor.types.workload",
]  # Origin's path classes, which the advisor's value reads


@pytest.mark.parametrize("name", MODULES)
def test_every_advisor_module_has_examples_that_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


@pytest.mark.parametrize("rule", [*PROPOSERS, *REFINERS], ids=lambda r: r.__name__)
def test_each_pass_is_one_rule_module_with_an_example_and_a_mirror_test(rule) -> None:
    module = inspect.getmodule(rule)
    assert module is not None and module.__name__.startswith("idxadvisor.advisor.rules.")
    assert module.__doc__ and ">>> " in module.__doc__
    assert rule.__doc__, f"{rule.__name__} says what it does"
    short = module.__name__.rsplit(".", 1)[1]
    assert (Path(__file__).parent / f"test_{short}.py").is_file()


def test_no_advisor_module_names_an_index_method_but_the_table() -> None:
    # One home for what a method can do: comparisons go through advisor.methods.
    literal = re.compile(r"""(?<![\w.])["'](btree|brin|gin|gist|hash)["']""")
    offenders = []
    for path in ADVISOR_DIR.rglob("*.py"):
        if path.name in ("methods.py", "django_index.py"):
            continue
        code = _without_docstrings(path.read_text())
        offenders += [f"{path.name}: {m.group(0)}" for m in literal.finditer(code)]
    assert offenders == []


def _without_docstrings(source: str) -> str:
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            for i in range(body[0].lineno - 1, body[0].end_lineno or body[0].lineno):
                lines[i] = ""
    return "\n".join(lines)


def test_the_method_table_is_consistent() -> None:
    for name, m in METHODS.items():
        assert m.name == name and m.name_suffix
        assert not m.ordered or m.multicolumn  # an ordered method is a B-tree
        assert m.django_class
    assert {"gin", "gist"} == TRIGRAM_METHODS
    assert method("BTREE") is METHODS["btree"]
    unknown = method("spgist_unknown")
    assert not unknown.seeks and not unknown.ordered
