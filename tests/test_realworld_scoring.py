"""The scoring rules of the real-world benchmark (benchmarks/realworld/score.py), on small
hand-made analyze reports: leading-key matches, partial indexes and their WHERE, proposals per
rediscovered index, and proposals an existing primary key or unique index already serves."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

from benchmarks.realworld import score as score_module
from benchmarks.realworld.score import key_columns, normalise_condition, score


def rec(name: str, table: str, keys: str, condition: str | None = None,
        using: str = "") -> dict[str, Any]:
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


@pytest.mark.parametrize(("keys", "found"), [
    ('"a"', True),                      # the same keys
    ('"a", "b"', True),                 # keys that lead with theirs
    ('"a" DESC, "created" DESC', True),  # direction does not matter
    ('"b", "a"', False),                # theirs not leading
    ('"b"', False),
    ('(UPPER("a"))', False),            # an expression is not the column
])
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


@pytest.mark.parametrize(("condition", "with_condition"), [
    ('"success"', True),
    ("success = true", True),             # the same predicate spelled differently
    ('"success" = TRUE', True),
    (None, False),                        # found by keys, without the condition
    ('"success" = false', False),         # incompatible
    ('"success" AND "name" IS NULL', False),  # narrower: does not hold all their rows
])
def test_partial_ground_truth_needs_a_compatible_where(condition: str | None,
                                                       with_condition: bool) -> None:
    gt = [{"table": "t", "keys": ["g", "n"], "condition": '"success"'}]
    result = score(gt, report(rec("p", "t", '"g", "n"', condition)))
    assert result.found == 1
    assert result.partial_total == 1
    assert result.partial_found == int(with_condition)


def test_proposals_per_found_counts_every_proposal() -> None:
    gt = [{"table": "t", "keys": ["a"]}, {"table": "t", "keys": ["b"]},
          {"table": "u", "keys": ["c"]}]
    result = score(gt, report(rec("p1", "t", '"a"'), rec("p2", "t", '"a", "x"'),
                              rec("p3", "t", '"b"'), rec("p4", "v", '"z"')))
    assert (result.found, result.total, result.proposals) == (2, 3, 4)
    assert result.proposals_per_found == 2.0
    assert result.as_dict()["matches"][0]["found_by"] == ["p1", "p2"]


def test_unscored_ground_truth_is_left_out() -> None:
    gt = [{"table": "t", "keys": ["a"]}, {"table": "t", "keys": ["b"], "scored": False}]
    assert score(gt, report()).total == 1


@pytest.mark.parametrize(("keys", "served"), [
    ('"id"', True),             # the primary key itself
    ('"id", "created"', True),  # led by the primary key
    ('"u1"', True),             # leading column of a unique (u1, u2)
    ('"u1", "u2", "x"', True),  # led by the unique columns
    ('"u2"', False),            # not a leading column of any
    ('"x", "id"', False),
    ('"w"', False),             # a partial unique index does not serve every row
])
def test_pk_or_unique_served_proposals(keys: str, served: bool) -> None:
    existing = [pk("t", "id"), pk("t", "u1", "u2"), pk("t", "w", condition="w IS NOT NULL"),
                {"table": "t", "columns": ["x"], "unique": False, "condition": None},
                pk("other", "u2")]
    result = score([], report(rec("p", "t", keys), existing=existing))
    assert len(result.pk_unique_served) == int(served)


def test_key_columns_reads_methods_and_expressions() -> None:
    assert key_columns('CREATE INDEX "i" ON "t" USING brin ("created");') == ("created",)
    assert key_columns('CREATE INDEX "i" ON "t" ((UPPER("e")), "f") INCLUDE ("g");') == (
        "expr:(upper(e))", "f")


def test_normalise_condition_terms() -> None:
    assert normalise_condition(None) == frozenset()
    assert normalise_condition('("a" = false) AND "b" IN (1, 2)') == {"not a", "b in (1, 2)"}
