"""IDX002: ORDER BY … LIMIT that no index returns in order — flagged before, quiet after."""

from __future__ import annotations

from dataclasses import replace
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

T = "monitoring_alertrule"
PAGE = AccessPattern(
    "q1", T, "select",
    predicates=(Predicate("channel_id", Op.EQ, "channel_id = $1"),),
    order_by=(OrderKey("name"),), limit=10,
)
SOURCE = '''
from monitoring.models import AlertRule


def first_rules(channel_id):
    return list(AlertRule.objects.filter(channel_id=channel_id).order_by("name")[:10])  # page
'''
CODE = 'AlertRule.objects.filter(channel_id=channel_id).order_by("name")[:10]'
FK = index(T, "monitoring_alertrule_channel_id_idx", "channel_id", origin="foreign key")


def _analysis(root: Path, pattern: AccessPattern = PAGE, **kwargs):
    write_source(root, "monitoring/queries.py", SOURCE)
    return analysis(
        root,
        (query("q1", CODE, "monitoring/queries.py", line=5, col=17),),
        (pattern,),
        tables=(table(T, "monitoring.AlertRule", ("channel_id", "channel"), "name"),),
        served=(Served("q1", T, FK.name),),  # the FK index serves the filter, not the order
        **kwargs,
    )


def test_before_flagged_with_equality_then_order_columns(tmp_path: Path) -> None:
    [f] = findings_for(_analysis(tmp_path, indexes=(FK,)), cwd=tmp_path)
    assert (f.code, f.path, f.line, f.col) == ("IDX002", "monitoring/queries.py", 5, 17)
    assert f.message.startswith(
        "AlertRule.objects.filter(...) orders by monitoring_alertrule(name) with LIMIT 10 but no "
        "index returns rows in that order"
    )
    assert f.suggestion.startswith('models.Index(fields=["channel", "name"], name="monitoring__')
    assert f.suggestion in f.message


def test_after_adding_the_index_not_flagged(tmp_path: Path) -> None:
    ordered = index(T, "monitoring__channel_abc123_idx", "channel_id", "name")
    assert findings_for(_analysis(tmp_path, indexes=(FK, ordered)), cwd=tmp_path) == ()


def test_backward_scan_counts(tmp_path: Path) -> None:
    descending = replace(PAGE, order_by=(OrderKey("name", descending=True),))
    ordered = index(T, "monitoring__channel_abc123_idx", "channel_id", "name")
    assert findings_for(_analysis(tmp_path, descending, indexes=(FK, ordered)), cwd=tmp_path) == ()
    mixed = index(T, "monitoring__channel_abc124_idx", "channel_id", "-name")
    assert findings_for(_analysis(tmp_path, descending, indexes=(FK, mixed)), cwd=tmp_path) == ()


def test_without_limit_not_flagged(tmp_path: Path) -> None:
    a = _analysis(tmp_path, replace(PAGE, limit=None), indexes=(FK,))
    assert findings_for(a, cwd=tmp_path) == ()


def test_prefers_the_advisors_recommendation(tmp_path: Path) -> None:
    rec = recommendation(T, ("channel_id", "name"), ("q1",), 'models.Index(fields=["channel", '
                         '"name"], name="from_the_advisor")')
    [f] = findings_for(_analysis(tmp_path, indexes=(FK,), recommendations=(rec,)), cwd=tmp_path)
    assert f.code == "IDX002" and 'name="from_the_advisor"' in f.suggestion


def test_inline_ignore(tmp_path: Path) -> None:
    a = _analysis(tmp_path, indexes=(FK,))
    write_source(tmp_path, "monitoring/queries.py", SOURCE.replace(
        "# page", "# idxadvisor: ignore[IDX002]"))
    assert findings_for(a, cwd=tmp_path) == ()


# --- Through the real pipeline -----------------------------------------------------------------

MODELS_BEFORE = '''
from django.db import models


class Ticket(models.Model):
    queue = models.CharField(max_length=20)
    opened_at = models.DateTimeField()
'''
MODELS_AFTER = MODELS_BEFORE + '''
    class Meta:
        indexes = [models.Index(fields=["queue", "-opened_at"], name="shop_ticket_queue_idx")]
'''
QUERIES = '''
from shop.models import Ticket


def latest(queue):
    return list(Ticket.objects.filter(queue=queue).order_by("-opened_at")[:25])
'''


@pytest.mark.parametrize("models, flagged", [(MODELS_BEFORE, True), (MODELS_AFTER, False)],
                         ids=["before", "after"])
def test_real_project(tmp_path: Path, models: str, flagged: bool) -> None:
    write_project(tmp_path, models, QUERIES)
    result, findings = check_json(tmp_path)
    if flagged:
        # The advisor's index for the filter also delivers the order: one line, whichever code.
        assert result.returncode == 1
        [f] = findings
        assert (f["path"], f["line"]) == ("shop/queries.py", 5)
        assert "queue" in f["suggestion"] and "opened_at" in f["suggestion"]
    else:
        assert findings == [] and result.returncode == 0, result.stdout
