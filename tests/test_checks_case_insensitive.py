"""IDX003: a case-insensitive lookup without an expression index — flagged before, quiet after."""

from __future__ import annotations

from pathlib import Path

import pytest

from idxadvisor.checks import findings_for
from idxadvisor.types.access import AccessPattern, Op, Predicate
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

T = "monitoring_userprofile"
BY_EMAIL = AccessPattern(
    "q1", T, "select",
    predicates=(Predicate("email", Op.EQ, "UPPER(email::TEXT) = UPPER($1)",
                          expression="UPPER(email::TEXT)"),),
    limit=1,
)
SOURCE = '''
from monitoring.models import UserProfile


def by_email(email):
    return UserProfile.objects.filter(email__iexact=email).first()
'''


def _analysis(root: Path, **kwargs):
    write_source(root, "monitoring/queries.py", SOURCE)
    return analysis(
        root,
        (query("q1", "UserProfile.objects.filter(email__iexact=email).first()",
               "monitoring/queries.py", line=5, col=12),),
        (BY_EMAIL,),
        tables=(table(T, "monitoring.UserProfile", "email"),),
        **kwargs,
    )


def test_before_flagged_with_an_expression_index(tmp_path: Path) -> None:
    plain = index(T, "monitoring_email_idx", "email")  # holds emails as written: no help
    [f] = findings_for(_analysis(tmp_path, indexes=(plain,)), cwd=tmp_path)
    assert (f.code, f.path, f.line, f.col) == ("IDX003", "monitoring/queries.py", 5, 12)
    assert f.message.startswith(
        "UserProfile.objects.filter(...) compares UPPER(email) on monitoring_userprofile "
        "case-insensitively with no expression index; suggest models.Index(Upper(\"email\"), "
        'name="monitoring__upper_e'
    )


def test_after_adding_the_expression_index_not_flagged(tmp_path: Path) -> None:
    upper = index(T, "monitoring__upper_e_abc123_idx", 'UPPER("email")')
    assert findings_for(_analysis(tmp_path, indexes=(upper,)), cwd=tmp_path) == ()


def test_lower_index_does_not_serve_upper(tmp_path: Path) -> None:
    lower = index(T, "monitoring__lower_e_abc123_idx", "LOWER(email)")
    [f] = findings_for(_analysis(tmp_path, indexes=(lower,)), cwd=tmp_path)
    assert f.code == "IDX003"


def test_uses_the_advisors_recommendation(tmp_path: Path) -> None:
    rec = recommendation(T, ("UPPER(email)",), ("q1",), 'models.Index(Upper("email"), name="adv")')
    [f] = findings_for(_analysis(tmp_path, recommendations=(rec,)), cwd=tmp_path)
    assert f.code == "IDX003" and f.suggestion == 'models.Index(Upper("email"), name="adv")'


# --- Through the real pipeline -----------------------------------------------------------------

MODELS_BEFORE = '''
from django.db import models


class Customer(models.Model):
    email = models.CharField(max_length=200)
'''
MODELS_AFTER = '''
from django.db import models
from django.db.models.functions import Upper


class Customer(models.Model):
    email = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(Upper("email"), name="shop_customer_email_upper")]
'''
QUERIES = '''
from shop.models import Customer


def by_email(email):
    return Customer.objects.filter(email__iexact=email).first()
'''


@pytest.mark.parametrize("models, flagged", [(MODELS_BEFORE, True), (MODELS_AFTER, False)],
                         ids=["before", "after"])
def test_real_project(tmp_path: Path, models: str, flagged: bool) -> None:
    write_project(tmp_path, models, QUERIES)
    result, findings = check_json(tmp_path)
    if flagged:
        assert result.returncode == 1
        [f] = findings
        assert (f["code"], f["path"], f["line"]) == ("IDX003", "shop/queries.py", 5)
        assert "Upper" in f["suggestion"] and "email" in f["suggestion"]
    else:
        assert findings == [] and result.returncode == 0, result.stdout
