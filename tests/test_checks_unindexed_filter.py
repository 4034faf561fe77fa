"""IDX001: a filter that no index serves — flagged before the index exists, quiet after."""

from __future__ import annotations

from pathlib import Path

import pytest

from idxadvisor.checks import findings_for
from idxadvisor.types.access import AccessPattern, Op, OrderKey, Predicate
from idxadvisor.types.advice import Served
from tests.check_helpers import (
    analysis,
    check_json,
    index,
    query,
    recommendation,
    table,
    write_project,
    write_source,
)

T = "monitoring_webhookdelivery"
STATUS = Predicate("status", Op.IN, "status IN ('pending', 'failed')",
                   constants=("'pending'", "'failed'"))
DUE = AccessPattern(
    "q1", T, "select",
    predicates=(STATUS, Predicate("next_retry_at", Op.RANGE, "next_retry_at <= $1")),
    order_by=(OrderKey("next_retry_at"),), limit=100,
)
SUGGESTION = ('models.Index(fields=["next_retry_at"], name="monitoring__next_re_1a2b3c_idx", '
              'condition=Q(status__in=["pending", "failed"]))')
SOURCE = '''
from monitoring.models import WebhookDelivery


def due(now):
    return list(
        WebhookDelivery.objects.filter(status__in=["pending", "failed"], next_retry_at__lte=now)
        .order_by("next_retry_at")[:100]
    )
'''
CODE = ('WebhookDelivery.objects.filter(status__in=["pending", "failed"], next_retry_at__lte=now)'
        '.order_by("next_retry_at")[:100]')


def _due_analysis(root: Path, **kwargs):
    write_source(root, "monitoring/queries.py", SOURCE)
    return analysis(
        root,
        (query("q1", CODE, "monitoring/queries.py", line=6, col=9),),
        (DUE,),
        tables=(table(T, "monitoring.WebhookDelivery", "status", "next_retry_at"),),
        **kwargs,
    )


def test_before_flagged_with_the_advisors_suggestion(tmp_path: Path) -> None:
    rec = recommendation(T, ("next_retry_at",), ("q1",), SUGGESTION, condition=(STATUS,))
    findings = findings_for(_due_analysis(tmp_path, recommendations=(rec,)), cwd=tmp_path)
    # IDX002 suggests the same index for the same query: reported once, under IDX001.
    assert [str(f) for f in findings] == [
        "monitoring/queries.py:6:9: IDX001 WebhookDelivery.objects.filter(...) filters on "
        "monitoring_webhookdelivery(status, next_retry_at) with no usable index; "
        f"suggest {SUGGESTION}"
    ]


def test_after_adding_the_index_not_flagged(tmp_path: Path) -> None:
    existing = index(T, "monitoring__next_re_1a2b3c_idx", "next_retry_at",
                     condition="status IN ('pending', 'failed')")
    served = (Served("q1", T, existing.name),)
    found = findings_for(_due_analysis(tmp_path, indexes=(existing,), served=served), cwd=tmp_path)
    assert found == ()


def test_no_recommendation_no_flag(tmp_path: Path) -> None:
    """When the advisor proposes nothing for the query (e.g. rejected), the check agrees."""
    assert findings_for(_due_analysis(tmp_path), cwd=tmp_path, codes=["IDX001"]) == ()


def test_trigram_and_expression_recommendations_are_left_to_their_checks(tmp_path: Path) -> None:
    recs = (
        recommendation(T, ("UPPER(status)",), ("q1",), "models.Index(Upper(...))"),
        recommendation(T, ("status",), ("q1",), "GinIndex(...)", method="gin"),
    )
    a = _due_analysis(tmp_path, recommendations=recs)
    assert findings_for(a, cwd=tmp_path, codes=["IDX001"]) == ()


# --- The same before/after through the real pipeline -------------------------------------------

MODELS_BEFORE = '''
from django.db import models


class Order(models.Model):
    status = models.CharField(max_length=16)
    customer_email = models.CharField(max_length=200)
    placed_at = models.DateTimeField()
'''
MODELS_AFTER = MODELS_BEFORE + '''
    class Meta:
        indexes = [models.Index(fields=["customer_email", "placed_at"], name="shop_order_cust_idx")]
'''
QUERIES = '''
from shop.models import Order


def orders_of(email, since):
    return list(Order.objects.filter(customer_email=email, placed_at__gte=since))
'''


@pytest.mark.parametrize("models, flagged", [(MODELS_BEFORE, True), (MODELS_AFTER, False)],
                         ids=["before", "after"])
def test_real_project(tmp_path: Path, models: str, flagged: bool) -> None:
    write_project(tmp_path, models, QUERIES)
    result, findings = check_json(tmp_path)
    ours = [f for f in findings if f["code"] == "IDX001"]
    if flagged:
        assert result.returncode == 1
        [f] = ours
        assert (f["path"], f["line"], f["col"]) == ("shop/queries.py", 5, 17)
        assert f["message"].startswith(
            "Order.objects.filter(...) filters on shop_order(customer_email, placed_at) "
            "with no usable index; suggest models.Index("
        )
        assert '"customer_email"' in f["suggestion"] or "'customer_email'" in f["suggestion"]
    else:
        assert ours == [] and findings == [] and result.returncode == 0, result.stdout
