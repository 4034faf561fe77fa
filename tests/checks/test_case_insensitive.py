"""IDX003: iexact without an UPPER() expression index."""

from __future__ import annotations

from pathlib import Path

from tests.check_helpers import before_after, check_json, with_index, write_project

MODELS = """
from django.db import models


class Customer(models.Model):
    email = models.CharField(max_length=200)
"""
QUERIES = """
from shop.models import Customer


def by_email(email):
    return Customer.objects.filter(email__iexact=email).first()
"""


def test_before_flagged_after_quiet(tmp_path: Path) -> None:
    before, after = before_after(tmp_path, MODELS, QUERIES)
    [f] = before
    assert (f["code"], f["path"], f["line"]) == ("IDX003", "shop/queries.py", 5)
    assert f["message"].startswith(
        "Customer.objects.filter(...) compares UPPER(email) on shop_customer case-insensitively"
    )
    assert f["suggestion"].startswith('models.Index(Upper("email")')
    assert after == []


def test_a_lower_index_does_not_serve_upper(tmp_path: Path) -> None:
    models = with_index(MODELS, 'models.Index(Lower("email"), name="shop_cust_lower")')
    write_project(tmp_path, models, QUERIES)
    _, findings = check_json(tmp_path)
    assert [f["code"] for f in findings] == ["IDX003"]


def test_ignoring_idx003_does_not_turn_it_into_idx001(tmp_path: Path) -> None:
    write_project(tmp_path, MODELS, QUERIES)
    _, findings = check_json(tmp_path, args=("--ignore", "IDX003"))
    assert findings == []
