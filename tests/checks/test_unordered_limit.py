"""IDX002: ORDER BY … LIMIT no index delivers in order, when the filter is already served."""

from __future__ import annotations

from pathlib import Path

from tests.check_helpers import before_after, check_json, write_project

MODELS = """
from django.db import models


class Ticket(models.Model):
    queue = models.CharField(max_length=20, db_index=True)
    opened_at = models.DateTimeField()
"""
QUERIES = """
from shop.models import Ticket


def latest(queue):
    return list(Ticket.objects.filter(queue=queue).order_by("-opened_at")[:25])
"""


def test_before_flagged_after_quiet(tmp_path: Path) -> None:
    before, after = before_after(tmp_path, MODELS, QUERIES)
    [f] = before
    assert (f["code"], f["path"], f["line"]) == ("IDX002", "shop/queries.py", 5)
    assert f["message"].startswith(
        "Ticket.objects.filter(...) orders by shop_ticket(opened_at DESC) with LIMIT 25 but no "
        "index returns rows in that order"
    )
    assert '"queue", "-opened_at"' in f["suggestion"] or '"-opened_at"' in f["suggestion"]
    assert after == []


def test_unserved_filter_is_idx001_not_both(tmp_path: Path) -> None:
    write_project(tmp_path, MODELS.replace(", db_index=True", ""), QUERIES)
    _, findings = check_json(tmp_path)
    assert [f["code"] for f in findings] == ["IDX001"]


def test_without_limit_no_idx002(tmp_path: Path) -> None:
    write_project(tmp_path, MODELS, QUERIES.replace("[:25]", ""))
    _, findings = check_json(tmp_path)
    assert "IDX002" not in {f["code"] for f in findings}
