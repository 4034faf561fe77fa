"""IDX000: a file that does not parse fails the check at the error's place; fixed, it passes."""

from __future__ import annotations

from pathlib import Path

from tests.check_helpers import check_json, write_project, write_source
from tests.helpers import run_cli

MODELS = """
from django.db import models


class Note(models.Model):
    body = models.TextField()
"""


def test_before_flagged_after_quiet(tmp_path: Path) -> None:
    write_project(tmp_path, MODELS, "def broken(:\n    pass\n")
    _, before = check_json(tmp_path)
    [f] = before
    assert (f["code"], f["path"], f["line"]) == ("IDX000", "shop/queries.py", 1)
    assert f["message"].startswith("cannot parse this file: ")
    write_source(tmp_path, "shop/queries.py", "def fixed():\n    pass\n")
    assert check_json(tmp_path)[1] == []


def test_never_hidden_by_a_baseline(tmp_path: Path) -> None:
    write_project(tmp_path, MODELS, "def broken(:\n    pass\n")
    wrote = run_cli("check", "--write-baseline", "baseline.json", cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stderr
    _, after = check_json(tmp_path, args=("--baseline", "baseline.json"))
    assert [f["code"] for f in after] == ["IDX000"]
