"""IDX004: a leading-wildcard LIKE that a B-tree cannot serve — flagged before, quiet after."""

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
    table,
    write_project,
    write_source,
)

T = "monitoring_integrationlog"
SEARCH = AccessPattern(
    "q1", T, "select",
    predicates=(Predicate("message", Op.LIKE_ANY, "UPPER(message::TEXT) LIKE UPPER($1)",
                          expression="UPPER(message::TEXT)"),),
)
SOURCE = '''
from monitoring.models import IntegrationLog


def matching(text):
    return list(
        IntegrationLog.objects.filter(
            message__icontains=text
        )  # idxadvisor: ignore[IDX001]
    )
'''


def _analysis(root: Path, pattern: AccessPattern = SEARCH, **kwargs):
    write_source(root, "monitoring/queries.py", SOURCE)
    return analysis(
        root,
        (query("q1", "IntegrationLog.objects.filter(message__icontains=text)",
               "monitoring/queries.py", line=6, col=9),),
        (pattern,),
        tables=(table(T, "monitoring.IntegrationLog", "message"),),
        **kwargs,
    )


def test_before_flagged_with_a_trigram_index(tmp_path: Path) -> None:
    btree = index(T, "monitoring_message_upper", "UPPER(message)")  # a B-tree: no use for %x%
    # The comment on the expression's last line names another code: IDX004 is still reported.
    [f] = findings_for(_analysis(tmp_path, indexes=(btree,)), cwd=tmp_path)
    assert (f.code, f.path, f.line, f.col) == ("IDX004", "monitoring/queries.py", 6, 9)
    assert f.suggestion.startswith(
        'GinIndex(OpClass(Upper("message"), name="gin_trgm_ops"), name="monitoring__upper_m'
    )
    assert f.message.startswith(
        "IntegrationLog.objects.filter(...) searches monitoring_integrationlog(message) with a "
        "leading-wildcard LIKE that a B-tree index cannot serve; suggest GinIndex("
    )


def test_after_adding_the_trigram_index_not_flagged(tmp_path: Path) -> None:
    trigram = index(T, "monitoring__upper_m_abc_trgm", "UPPER(message)", method="gin")
    assert findings_for(_analysis(tmp_path, indexes=(trigram,)), cwd=tmp_path) == ()


def test_case_sensitive_contains_suggests_a_column_trigram_index(tmp_path: Path) -> None:
    plain = AccessPattern("q1", T, "select",
                          predicates=(Predicate("message", Op.LIKE_ANY, "message LIKE $1"),))
    [f] = findings_for(_analysis(tmp_path, plain), cwd=tmp_path)
    assert f.suggestion.startswith(
        'GinIndex(fields=["message"], opclasses=["gin_trgm_ops"], name="monitoring__message_'
    )


def test_suppressed_on_the_expressions_last_line(tmp_path: Path) -> None:
    a = _analysis(tmp_path)
    (tmp_path / "monitoring/queries.py").write_text(
        SOURCE.lstrip().replace("ignore[IDX001]", "ignore[IDX001, idx004]"))
    assert findings_for(a, cwd=tmp_path) == ()


# --- Through the real pipeline -----------------------------------------------------------------

MODELS_BEFORE = '''
from django.db import models


class Note(models.Model):
    body = models.TextField()
'''
MODELS_AFTER = '''
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper


class Note(models.Model):
    body = models.TextField()

    class Meta:
        indexes = [GinIndex(OpClass(Upper("body"), name="gin_trgm_ops"), name="shop_note_trgm")]
'''
QUERIES = '''
from shop.models import Note


def search(text):
    return list(Note.objects.filter(body__icontains=text))
'''


@pytest.mark.parametrize("models, flagged", [(MODELS_BEFORE, True), (MODELS_AFTER, False)],
                         ids=["before", "after"])
def test_real_project(tmp_path: Path, models: str, flagged: bool) -> None:
    write_project(tmp_path, models, QUERIES)
    result, findings = check_json(tmp_path)
    ours = [f for f in findings if f["code"] == "IDX004"]
    if flagged:
        assert result.returncode == 1
        [f] = ours
        assert (f["path"], f["line"]) == ("shop/queries.py", 5)
        assert "gin_trgm_ops" in f["suggestion"]
    else:
        assert ours == [] and result.returncode == 0, result.stdout
