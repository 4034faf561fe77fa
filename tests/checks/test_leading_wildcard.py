"""IDX004: a leading-wildcard LIKE that only a trigram GIN index serves."""

from __future__ import annotations

from pathlib import Path

from tests.check_helpers import before_after

MODELS = """
from django.db import models


class Note(models.Model):
    body = models.TextField()
"""
QUERIES = """
from shop.models import Note


def search(text):
    return list(Note.objects.filter(body__icontains=text))
"""


def test_before_flagged_after_quiet(tmp_path: Path) -> None:
    before, after = before_after(tmp_path, MODELS, QUERIES)
    [f] = [f for f in before if f["code"] == "IDX004"]
    assert (f["path"], f["line"]) == ("shop/queries.py", 5)
    assert f["suggestion"].startswith('GinIndex(OpClass(Upper("body"), name="gin_trgm_ops")')
    assert "leading-wildcard LIKE" in f["message"] and "pg_trgm" in f["message"]
    assert [x for x in after if x["code"] == "IDX004"] == []


def test_case_sensitive_contains_gets_a_column_trigram_index(tmp_path: Path) -> None:
    before, after = before_after(tmp_path, MODELS, QUERIES.replace("icontains", "contains"))
    [f] = [f for f in before if f["code"] == "IDX004"]
    assert "gin_trgm_ops" in f["suggestion"] and "Upper" not in f["suggestion"]
    assert [x for x in after if x["code"] == "IDX004"] == []
