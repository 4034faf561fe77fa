"""The check's configuration (``[tool.idxadvisor]``) and its report formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idxadvisor.checks import CHECKS, Finding, subject
from idxadvisor.config import load_config
from idxadvisor.errors import UsageError
from idxadvisor.report.findings import render, sarif
from idxadvisor.types.workload import Query

FINDING = Finding(
    code="IDX001",
    path="shop/queries.py",
    line=12,
    col=5,
    message="Order.objects.filter(...) filters on shop_order(status) with no usable index; "
    'suggest models.Index(fields=["status"], name="shop_order_status_1a2b3c_idx")',
    query_id="q_1",
    table="shop_order",
    columns=("status",),
    suggestion='models.Index(fields=["status"], name="shop_order_status_1a2b3c_idx")',
    sql="SELECT * FROM shop_order WHERE status = $1",
)


def test_config_found_walking_up(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.idxadvisor]\nsettings = "shopsite.settings"\n'
        'exclude = ["legacy", "*/migrations/*"]\nignore = ["idx002"]\n'
    )
    deep = tmp_path / "shop" / "views"
    deep.mkdir(parents=True)
    cfg = load_config(deep)
    assert (cfg.path, cfg.settings, cfg.ignore) == (
        tmp_path / "pyproject.toml",
        "shopsite.settings",
        ("IDX002",),
    )
    assert cfg.excludes(tmp_path / "legacy" / "old.py")
    assert cfg.excludes(tmp_path / "shop" / "migrations" / "0001_initial.py")
    assert not cfg.excludes(tmp_path / "shop" / "views" / "list.py")


def test_pyproject_without_our_table_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.idxadvisor]\nignore = ["IDX004"]\n')
    inner = tmp_path / "sub"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "sub"\n')
    assert load_config(inner).ignore == ("IDX004",)


@pytest.mark.parametrize(
    "body, words",
    [
        ("[tool.idxadvisor]\nignore = 3\n", "ignore must be a list of strings"),
        ("[tool.idxadvisor]\nsetings = 'x'\n", "unknown key(s) in [tool.idxadvisor]: setings"),
        ("[tool.idxadvisor\n", "invalid TOML"),
    ],
)
def test_bad_config_is_a_usage_error(tmp_path: Path, body: str, words: str) -> None:
    (tmp_path / "pyproject.toml").write_text(body)
    with pytest.raises(UsageError, match=None) as info:
        load_config(tmp_path)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_subject_abbreviates_to_the_first_call() -> None:
    def q(code: str) -> Query:
        return Query("q", "", "", "static", code=code, model="shop.Order")

    assert subject(q('Order.objects.filter(a=1).exclude(b=2).order_by("-c")[:5]')) == (
        "Order.objects.filter(...)"
    )
    assert subject(q("Order.objects.get(pk=pk)")) == "Order.objects.get(...)"
    assert subject(q("self.orders.filter(x=1).count()")) == "self.orders.filter(...)"
    assert subject(q("not python (")) == "Order.objects query"


def test_text_and_json() -> None:
    assert render((FINDING,), "text") == f"shop/queries.py:12:5: IDX001 {FINDING.message}"
    data = json.loads(render((FINDING,), "json"))
    assert data["findings"][0] | {} == {
        "code": "IDX001",
        "check": "unindexed-filter",
        "path": "shop/queries.py",
        "line": 12,
        "col": 5,
        "message": FINDING.message,
        "query_id": "q_1",
        "table": "shop_order",
        "columns": ["status"],
        "suggestion": FINDING.suggestion,
        "sql": FINDING.sql,
    }
    assert render((), "text") == ""


def test_github_annotations_escape_their_separators() -> None:
    line = render((FINDING,), "github")
    props, _, message = line.removeprefix("::error ").partition("::")
    assert props == "file=shop/queries.py,line=12,col=5,title=IDX001 unindexed-filter"
    assert message == FINDING.message
    tricky = Finding("IDX002", "a,b:c.py", 1, 1, "100% done\nnext", "q", "t", (), "")
    assert render((tricky,), "github") == (
        "::error file=a%2Cb%3Ac.py,line=1,col=1,title=IDX002 unordered-limit::100%25 done%0Anext"
    )


def test_sarif_2_1_0_with_rules_from_the_registry() -> None:
    log = json.loads(json.dumps(sarif((FINDING,))))
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(CHECKS)
    for rule in rules:
        check = CHECKS[rule["id"]]
        assert rule["shortDescription"]["text"] == check.summary
        # The link the check's documentation gives: PostgreSQL's manual for the index checks,
        # Python's for a file that does not parse.
        assert rule["helpUri"].startswith(
            "https://docs.python.org/"
            if rule["id"] == "IDX000"
            else "https://www.postgresql.org/docs/"
        )
        assert rule["helpUri"] in check.docs
        assert rule["help"]["text"] == check.docs
    [result] = run["results"]
    assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == "IDX001"
    assert result["message"]["text"] == FINDING.message
    [location] = result["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "shop/queries.py"
    assert location["physicalLocation"]["region"] == {"startLine": 12, "startColumn": 5}
    assert sarif(())["runs"][0]["results"] == []


def test_every_check_documents_itself() -> None:
    for code, check in CHECKS.items():
        assert check.docs.startswith(code), code
        assert check.docs_url.startswith("https://"), code
        if code == "IDX000":  # about a file, not a query: nothing to suggest
            assert "{error}" in check.message
            continue
        assert "https://www.postgresql.org/docs/" in check.docs
        assert "{subject}" in check.message and "{suggestion}" in check.message
