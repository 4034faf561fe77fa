"""IDX001: a filter no index serves — flagged with the advisor's index, quiet once it exists."""

from __future__ import annotations

from pathlib import Path

from tests.check_helpers import before_after, check_json, write_project

MODELS = """
from django.db import models


class Order(models.Model):
    status = models.CharField(max_length=16)
    customer_email = models.CharField(max_length=200)
    placed_at = models.DateTimeField()
"""
QUERIES = """
from shop.models import Order


def orders_of(email, since):
    return list(Order.objects.filter(customer_email=email, placed_at__gte=since))
"""


def test_before_flagged_after_quiet(tmp_path: Path) -> None:
    before, after = before_after(tmp_path, MODELS, QUERIES)
    [f] = before
    assert (f["code"], f["path"], f["line"], f["col"]) == ("IDX001", "shop/queries.py", 5, 17)
    assert f["message"] == (
        "Order.objects.filter(...) filters on shop_order(customer_email, placed_at) with no "
        f"usable index; suggest {f['suggestion']}"
    )
    assert f["suggestion"].startswith('models.Index(fields=["customer_email", "placed_at"]')
    assert after == []


def test_an_index_serving_part_of_the_filter_is_named(tmp_path: Path) -> None:
    """analyze still proposes the better index; the message says what serves part of it."""
    models = MODELS.replace(
        "customer_email = models.CharField(max_length=200)",
        "customer_email = models.CharField(max_length=200, db_index=True)",
    )
    queries = QUERIES.replace("placed_at__gte=since", 'placed_at__gte=since).order_by("-placed_at"')
    write_project(tmp_path, models, queries)
    _, findings = check_json(tmp_path)
    for f in findings:
        assert "serves only part of it" in f["message"] or "no usable index" in f["message"]


def test_a_lookup_the_primary_key_serves_is_quiet(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        MODELS,
        QUERIES.replace(
            "list(Order.objects.filter(customer_email=email, placed_at__gte=since))",
            "Order.objects.get(pk=email)",
        ),
    )
    assert check_json(tmp_path)[1] == []
