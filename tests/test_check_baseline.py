"""Baselines: on an existing codebase the hook reports only the problems a change adds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.check_helpers import write_project, write_source
from tests.helpers import run_cli

MODELS = """
from django.db import models


class Order(models.Model):
    status = models.CharField(max_length=16)
    customer_email = models.CharField(max_length=200)
    placed_at = models.DateTimeField()
"""
QUERIES = """
from shop.models import Order


def of_customer(email):
    return list(Order.objects.filter(customer_email=email))


class Reports:
    def pending(self):
        return list(Order.objects.filter(status="pending"))
"""


def _project(root: Path) -> Path:
    write_project(root, MODELS, QUERIES)
    wrote = run_cli("check", "--write-baseline", "idxadvisor-baseline.json", cwd=root)
    assert wrote.returncode == 0, wrote.stderr
    assert "wrote 2 finding(s) to the baseline" in wrote.stderr
    return root


def test_baseline_is_sorted_stable_json(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = (root / "idxadvisor-baseline.json").read_bytes()
    data = json.loads(first)
    rows = data["findings"]
    assert [(r["path"], r["scope"], r["code"]) for r in rows] == [
        ("shop/queries.py", "Reports.pending", "IDX001"),
        ("shop/queries.py", "of_customer", "IDX001"),
    ]
    assert all(r["count"] == 1 and len(r["fingerprint"]) == 20 for r in rows)
    again = run_cli("check", "--write-baseline", "idxadvisor-baseline.json", cwd=root)
    assert again.returncode == 0 and (root / "idxadvisor-baseline.json").read_bytes() == first


def test_old_findings_pass_even_when_lines_move(tmp_path: Path) -> None:
    root = _project(tmp_path)
    clean = run_cli("check", "--baseline", "idxadvisor-baseline.json", cwd=root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout == "" and "2 known problem(s) in the baseline" in clean.stderr
    # A comment-only change moves every line: the baseline does not key on lines.
    source = (root / "shop/queries.py").read_text()
    (root / "shop/queries.py").write_text("# Order queries.\n# More words.\n\n" + source)
    moved = run_cli("check", "--baseline", "idxadvisor-baseline.json", "shop/queries.py", cwd=root)
    assert moved.returncode == 0, moved.stdout + moved.stderr


@pytest.mark.parametrize("where", ["same function", "new function"])
def test_a_new_problem_is_reported_alone(tmp_path: Path, where: str) -> None:
    root = _project(tmp_path)
    source = (root / "shop/queries.py").read_text()
    if where == "same function":  # the same query shape twice: the count tells the new one
        source = source.replace(
            "    return list(Order.objects.filter(customer_email=email))\n",
            "    first = list(Order.objects.filter(customer_email=email))\n"
            "    return first + list(Order.objects.filter(customer_email=email))\n",
        )
        expected_line = 6
    else:
        source += (
            "\n\ndef since(when):\n    return list(Order.objects.filter(placed_at__gte=when))\n"
        )
        expected_line = (
            source.splitlines().index("    return list(Order.objects.filter(placed_at__gte=when))")
            + 1
        )
    (root / "shop/queries.py").write_text(source)
    run = run_cli("check", "--baseline", "idxadvisor-baseline.json", cwd=root)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"shop/queries.py:{expected_line}:"), lines


def test_writing_for_some_files_keeps_the_others_entries(tmp_path: Path) -> None:
    root = _project(tmp_path)
    write_source(
        root,
        "shop/other.py",
        """
        from shop.models import Order


        def on(when):
            return list(Order.objects.filter(placed_at=when))
    """,
    )
    wrote = run_cli(
        "check", "--write-baseline", "idxadvisor-baseline.json", "shop/other.py", cwd=root
    )
    assert wrote.returncode == 0, wrote.stderr
    rows = json.loads((root / "idxadvisor-baseline.json").read_text())["findings"]
    assert sorted({r["path"] for r in rows}) == ["shop/other.py", "shop/queries.py"]
    assert run_cli("check", "--baseline", "idxadvisor-baseline.json", cwd=root).returncode == 0


@pytest.mark.parametrize(
    "content, words",
    [
        ("not json", "not a baseline file"),
        ('{"version": 1}', "not an idxadvisor baseline"),
    ],
)
def test_a_bad_baseline_is_bad_input(tmp_path: Path, content: str, words: str) -> None:
    write_project(tmp_path, MODELS, QUERIES)
    (tmp_path / "b.json").write_text(content)
    run = run_cli("check", "--baseline", "b.json", cwd=tmp_path)
    assert run.returncode == 2 and words in run.stderr and len(run.stderr.splitlines()) == 1


def test_a_missing_baseline_and_a_foreign_file_are_refused(tmp_path: Path) -> None:
    write_project(tmp_path, MODELS, QUERIES)
    missing = run_cli("check", "--baseline", "nope.json", cwd=tmp_path)
    assert missing.returncode == 2 and "no such baseline file" in missing.stderr
    (tmp_path / "notes.json").write_text('{"mine": true}\n')
    refused = run_cli("check", "--write-baseline", "notes.json", cwd=tmp_path)
    assert refused.returncode == 2 and "refusing to overwrite" in refused.stderr
    assert (tmp_path / "notes.json").read_text() == '{"mine": true}\n'


def test_configured_baseline(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "pyproject.toml").write_text(
        '[tool.idxadvisor]\nsettings = "shopsite.settings"\nbaseline = "idxadvisor-baseline.json"\n'
    )
    assert run_cli("check", cwd=root).returncode == 0
