"""The scoring rules of the real-world benchmark (benchmarks/realworld/score.py), on small
hand-made analyze reports: leading-key matches, partial indexes and their WHERE, proposals per
rediscovered index, and proposals an existing primary key or unique index already serves."""

from __future__ import annotations

import doctest
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks.realworld import runner
from benchmarks.realworld import score as score_module
from benchmarks.realworld.score import compared_keys, key_columns, normalise_condition, score
from tests.helpers import ROOT, run_python


def rec(
    name: str, table: str, keys: str, condition: str | None = None, using: str = ""
) -> dict[str, Any]:
    where = f" WHERE {condition}" if condition else ""
    sql = f'CREATE INDEX CONCURRENTLY "{name}" ON "{table}" {using}({keys}){where};'
    return {"name": name, "table": table, "sql": sql, "condition": condition}


def report(*recs: dict[str, Any], existing: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"recommendations": list(recs), "existing": existing or []}


def pk(table: str, *columns: str, condition: str | None = None) -> dict[str, Any]:
    return {"table": table, "columns": list(columns), "unique": True, "condition": condition}


def test_docstring_examples() -> None:
    result = doctest.testmod(score_module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("keys", "found"),
    [
        ('"a"', True),  # the same keys
        ('"a", "b"', True),  # keys that lead with theirs
        ('"a" DESC, "created" DESC', True),  # direction does not matter
        ('"b", "a"', False),  # theirs not leading
        ('"b"', False),
        ('(UPPER("a"))', False),  # an expression is not the column
    ],
)
def test_single_column_ground_truth_needs_a_leading_key(keys: str, found: bool) -> None:
    result = score([{"table": "t", "keys": ["a"]}], report(rec("p", "t", keys)))
    assert result.found == int(found)
    assert result.total == 1


def test_multi_column_keys_must_lead_in_order() -> None:
    gt = [{"table": "t", "keys": ["a", "b"]}]
    assert score(gt, report(rec("p", "t", '"a", "b", "c"'))).found == 1
    assert score(gt, report(rec("p", "t", '"b", "a"'))).found == 0
    # A prefix of theirs does not rediscover theirs.
    assert score(gt, report(rec("p", "t", '"a"'))).found == 0


def test_other_table_does_not_count() -> None:
    result = score([{"table": "t", "keys": ["a"]}], report(rec("p", "u", '"a"')))
    assert result.found == 0 and result.proposals == 1 and result.proposals_per_found is None


@pytest.mark.parametrize(
    ("condition", "with_condition"),
    [
        ('"success"', True),
        ("success = true", True),  # the same predicate spelled differently
        ('"success" = TRUE', True),
        (None, False),  # found by keys, without the condition
        ('"success" = false', False),  # incompatible
        ('"success" AND "name" IS NULL', False),  # narrower: does not hold all their rows
    ],
)
def test_partial_ground_truth_needs_a_compatible_where(
    condition: str | None, with_condition: bool
) -> None:
    gt = [{"table": "t", "keys": ["g", "n"], "condition": '"success"'}]
    result = score(gt, report(rec("p", "t", '"g", "n"', condition)))
    assert result.found == 1
    assert result.partial_total == 1
    assert result.partial_found == int(with_condition)


READY = "\"status\" = 'READY'"


@pytest.mark.parametrize(
    ("keys", "condition", "found", "with_condition"),
    [
        # the pinned leading key is not compared: the index orders on the rest
        ('"priority" DESC, "run_after"', READY, True, True),
        ('"priority" DESC, "run_after", "id"', "status = 'READY'", True, True),
        ('"priority" DESC, "run_after"', None, True, False),  # the keys, not the WHERE
        # their own index still matches itself: its WHERE pins its own leading key too
        ('"status", "priority" DESC, "run_after"', READY, True, True),
        # a leading status the proposal's WHERE does not pin is a key like any other
        ('"status", "backend_name", "priority" DESC, "run_after"', None, False, False),
        ('"status", "priority" DESC, "run_after"', None, False, False),
        ('"run_after"', READY, False, False),  # the rest must still lead, in order
    ],
)
def test_a_leading_key_pinned_by_the_index_where_is_ignored(
    keys: str, condition: str | None, found: bool, with_condition: bool
) -> None:
    gt = [{"table": "t", "keys": ["status", "priority", "run_after"], "condition": READY}]
    result = score(gt, report(rec("p", "t", keys, condition)))
    assert (result.found, result.partial_found) == (int(found), int(with_condition))
    assert result.as_dict()["matches"][0]["compared_keys"] == ["priority", "run_after"]


@pytest.mark.parametrize(
    ("gt_keys", "condition"),
    [
        (["status", "priority"], "\"status\" IN ('READY', 'RUNNING')"),  # two values: not pinned
        (["status", "priority"], "\"status\" <> 'FAILED'"),
        (["status", "priority"], '"priority" = 0'),  # the WHERE pins another column
        (["priority", "status"], READY),  # pinned, but not leading: kept
    ],
)
def test_a_key_the_where_does_not_pin_is_compared(gt_keys: list[str], condition: str) -> None:
    gt = [{"table": "t", "keys": gt_keys, "condition": condition}]
    result = score(gt, report(rec("p", "t", '"priority"', condition)))
    assert result.found == 0
    assert result.as_dict()["matches"][0]["compared_keys"] == gt_keys


def test_an_index_whose_keys_are_all_pinned_keeps_them() -> None:
    gt = [{"table": "t", "keys": ["success"], "condition": '"success"'}]
    assert score(gt, report(rec("p", "t", '"success"', "success = true"))).partial_found == 1
    assert score(gt, report(rec("p", "t", '"other"', "success = true"))).found == 0


def test_the_tasks_ordering_index_is_compared_without_status() -> None:
    """The real ground truth: django-tasks' partial ordering index is matched on what it
    orders by, since its WHERE holds status to READY."""
    (ordering,) = [i for i in runner.load_ground_truth("tasks")["index"] if i.get("condition")]
    assert compared_keys(tuple(ordering["keys"]), ordering["condition"]) == (
        "priority",
        "run_after",
    )


def test_proposals_per_found_counts_every_proposal() -> None:
    gt = [
        {"table": "t", "keys": ["a"]},
        {"table": "t", "keys": ["b"]},
        {"table": "u", "keys": ["c"]},
    ]
    result = score(
        gt,
        report(
            rec("p1", "t", '"a"'),
            rec("p2", "t", '"a", "x"'),
            rec("p3", "t", '"b"'),
            rec("p4", "v", '"z"'),
        ),
    )
    assert (result.found, result.total, result.proposals) == (2, 3, 4)
    assert result.proposals_per_found == 2.0
    assert result.as_dict()["matches"][0]["found_by"] == ["p1", "p2"]


def test_unscored_ground_truth_is_left_out() -> None:
    gt = [{"table": "t", "keys": ["a"]}, {"table": "t", "keys": ["b"], "scored": False}]
    assert score(gt, report()).total == 1


@pytest.mark.parametrize(
    ("keys", "condition", "served"),
    [
        ('"id"', None, True),  # the primary key itself
        ('"id", "created"', None, True),  # led by the primary key
        ('"u1"', None, True),  # leading column of a unique (u1, u2)
        ('"u1", "u2", "x"', None, True),  # led by the unique columns
        ('"u2"', None, False),  # not a leading column of any
        ('"x", "id"', None, False),
        ('"w"', None, False),  # a partial unique index does not serve every row
        # A rare filter walked in primary-key order: the primary key reads every row (defect 5).
        ('"id" DESC', '"processed" IS NULL', False),
        ('"u1"', '"done"', False),
        # Keys after the unique ones are still keys after an equality that finds one row.
        ('"id", "created"', '"processed" IS NULL', True),
    ],
)
def test_pk_or_unique_served_proposals(keys: str, condition: str | None, served: bool) -> None:
    existing = [
        pk("t", "id"),
        pk("t", "u1", "u2"),
        pk("t", "w", condition="w IS NOT NULL"),
        {"table": "t", "columns": ["x"], "unique": False, "condition": None},
        pk("other", "u2"),
    ]
    result = score([], report(rec("p", "t", keys, condition), existing=existing))
    assert len(result.pk_unique_served) == int(served)


def test_key_columns_reads_methods_and_expressions() -> None:
    assert key_columns('CREATE INDEX "i" ON "t" USING brin ("created");') == ("created",)
    assert key_columns('CREATE INDEX "i" ON "t" ((UPPER("e")), "f") INCLUDE ("g");') == (
        "expr:(upper(e))",
        "f",
    )


def test_normalise_condition_terms() -> None:
    assert normalise_condition(None) == frozenset()
    assert normalise_condition('("a" = false) AND "b" IN (1, 2)') == {"not a", "b in (1, 2)"}


# --- the benchmark's own set-up: documented settings variants, admin clicks, unscored entries

REALWORLD = ROOT / "benchmarks" / "realworld"


def _rwdriver() -> Any:
    # rwdriver lives in the site template (copied into each work dir), not in a package.
    spec = importlib.util.spec_from_file_location("rwdriver", REALWORLD / "site" / "rwdriver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rwdriver_docstring_examples() -> None:
    result = doctest.testmod(_rwdriver())
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("page", "links"),
    [
        # the sort headers, filter choices and date drill-down a changelist renders
        (
            '<a href="?o=2">IP</a> <a href="?o=-1.2">x</a> <a href="?date__year=2025">2025</a>',
            ["?o=2", "?o=-1.2", "?date__year=2025"],
        ),
        # the template escapes &: the GET must carry the real query string
        (
            '<a href="?status__exact=FAILURE&amp;worker=celery%40w1">w1</a>',
            ["?status__exact=FAILURE&worker=celery%40w1"],
        ),
        # each once, page order kept; "clear all filters" is the page itself
        (
            '<a href="?p=2">2</a><a href="?">All</a><a href="?p=2">next</a><a href="?p=1">1</a>',
            ["?p=2", "?p=1"],
        ),
        # links off the changelist (rows, other pages, static files) are not its clicks
        (
            '<a href="/admin/axes/accesslog/1/change/">row</a><a href="http://x/?o=1">x</a>'
            '<link href="/static/admin/css/base.css">',
            [],
        ),
    ],
)
def test_changelist_links(page: str, links: list[str]) -> None:
    assert _rwdriver().changelist_links(page) == links


def _site_copy(tmp_path: Path, app_settings: str) -> Path:
    site = tmp_path / "site"
    shutil.copytree(REALWORLD / "site", site)
    (site / "rwsite" / "app_settings.py").write_text(app_settings)
    return site


_PRINT_SETTINGS = (
    "import json, rwsite.settings as s; "
    "print(json.dumps([s.APP_SETTINGS, getattr(s, 'AXES_FAILURE_LIMIT', None)]))"
)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, {"AXES_FAILURE_LIMIT": 5, "X": "base"}),  # the first config when none is named
        ("first", {"AXES_FAILURE_LIMIT": 5, "X": "base"}),
        ("second", {"AXES_FAILURE_LIMIT": 9, "X": "base"}),  # an override of one base setting
    ],
)
def test_site_settings_apply_the_named_config(
    tmp_path: Path, config: str | None, expected: dict[str, Any]
) -> None:
    site = _site_copy(
        tmp_path,
        'APPS = []\nAPP_SETTINGS = {"AXES_FAILURE_LIMIT": 5, "X": "base"}\n'
        'CONFIGS = {"first": {}, "second": {"AXES_FAILURE_LIMIT": 9}}\n',
    )
    # An empty REALWORLD_CONFIG is the runner's "none named" (it strips the variable).
    run = run_python("-c", _PRINT_SETTINGS, cwd=site, env={"REALWORLD_CONFIG": config or ""})
    assert run.returncode == 0, run.stderr
    app_settings, limit = json.loads(run.stdout)
    assert app_settings == expected
    assert limit == expected["AXES_FAILURE_LIMIT"]  # it reached Django's settings too


def test_site_settings_refuse_an_unknown_config(tmp_path: Path) -> None:
    site = _site_copy(tmp_path, 'APPS = []\nAPP_SETTINGS = {}\nCONFIGS = {"a": {}}\n')
    run = run_python("-c", _PRINT_SETTINGS, cwd=site, env={"REALWORLD_CONFIG": "b"})
    assert run.returncode != 0
    assert "REALWORLD_CONFIG='b' is not one of ['a']" in run.stderr


@pytest.mark.parametrize("app", runner.APPS)
def test_every_app_config_loads(tmp_path: Path, app: str) -> None:
    """Each documented variant the runner will run is a valid settings module for the site."""
    names = runner.configs(app)
    assert names and len(set(names)) == len(names)
    site = _site_copy(tmp_path, (REALWORLD / app / "app_settings.py").read_text())
    for name in names:
        run = run_python("-c", _PRINT_SETTINGS, cwd=site, env={"REALWORLD_CONFIG": name})
        assert run.returncode == 0, f"{app}/{name}: {run.stderr}"


def test_an_app_without_configs_runs_once(tmp_path: Path) -> None:
    # reversion's settings take no variants: one run, named "default"
    assert "CONFIGS" not in (REALWORLD / "reversion" / "app_settings.py").read_text()
    assert runner.configs("reversion") == ["default"]


@pytest.mark.parametrize("app", runner.APPS)
def test_unscored_ground_truth_is_explained(app: str) -> None:
    """An index left out of the score says why, and the README lists it: the measure's
    denominator must never shrink silently."""
    readme = (REALWORLD / "README.md").read_text()
    for index in runner.load_ground_truth(app)["index"]:
        assert set(index) >= {"table", "keys", "migration", "why", "query"}
        if index.get("scored", True):
            assert "not_scored_because" not in index
            continue
        assert len(index["not_scored_because"]) > 40
        entry = f"{index['table']}({', '.join(index['keys'])})"
        assert entry in readme, f"README does not list unscored {entry}"
