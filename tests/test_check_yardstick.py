"""``check`` and ``analyze`` use one yardstick, and a suggestion does not depend on the files.

``check`` flags exactly the places of the queries ``analyze`` proposes an index for (plus
IDX000 for files that do not parse); the index it suggests for a query has the same name and
keys whether one file or the whole project is checked (a pre-commit hook checks only the
changed files).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.check_helpers import check_json, write_project, write_source
from tests.helpers import run_cli

MODELS = """
from django.db import models


class Order(models.Model):
    status = models.CharField(max_length=16)
    customer_email = models.CharField(max_length=200)
    reference = models.CharField(max_length=40, unique=True)
    note = models.TextField()
    placed_at = models.DateTimeField()
"""
QUERIES = """
from shop.models import Order


def of_customer(email):
    return list(Order.objects.filter(customer_email=email))


def by_reference(ref):
    return Order.objects.get(reference=ref)


def latest(email):
    return list(Order.objects.filter(customer_email=email).order_by("-placed_at")[:10])


def by_email(email):
    return Order.objects.filter(customer_email__iexact=email).first()


def search(text):
    return list(Order.objects.filter(note__icontains=text))
"""
MORE = """
from shop.models import Order


def pending_of(email):
    qs = Order.objects.filter(status="pending")
    qs = qs.filter(customer_email=email)
    return list(qs)


def recent_pending(since):
    return Order.objects.filter(status="pending", placed_at__gte=since).count()
"""


def _small(root: Path) -> Path:
    write_project(root, MODELS, QUERIES)
    write_source(root, "shop/more.py", MORE)
    return root


def _analyzed_places(root: Path) -> set[tuple[str, int]]:
    run = run_cli("analyze", "--format", "json", cwd=root)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    origins = {q["id"]: q["origins"] for q in data["queries"]}
    places = set()
    for rec in data["recommendations"]:
        for query_id in rec["serves"]:
            for origin in origins[query_id]:
                text = origin if isinstance(origin, str) else f"{origin['path']}:{origin['line']}"
                path, _, line = text.rpartition(":")
                places.add((path, int(line)))
    return places


def _checked(root: Path, *files: str) -> list[dict]:
    run = run_cli("check", "--format", "json", *files, cwd=root)
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)["findings"]


@pytest.mark.parametrize("which", ["example", "small"])
def test_check_flags_exactly_what_analyze_proposes_an_index_for(
    which: str, example_copy: Path, tmp_path: Path
) -> None:
    root = example_copy if which == "example" else _small(tmp_path / "small")
    expected = _analyzed_places(root)
    assert expected, "the project must give analyze something to propose"
    flagged = {(f["path"], f["line"]) for f in _checked(root) if f["code"] != "IDX000"}
    assert flagged == expected


def test_suggestion_is_the_same_for_one_file_as_for_the_whole_project(tmp_path: Path) -> None:
    root = _small(tmp_path)
    whole = {(f["path"], f["line"], f["code"]): f["suggestion"] for f in _checked(root)}
    alone = {
        (f["path"], f["line"], f["code"]): f["suggestion"]
        for name in ("shop/queries.py", "shop/more.py")
        for f in _checked(root, name)
    }
    assert whole and alone == whole


def test_the_message_names_the_call_on_its_own_line(tmp_path: Path) -> None:
    """A queryset built over several statements is reported where it runs, named as written
    there — not with another place's code of the same query."""
    root = _small(tmp_path)
    write_source(
        root,
        "shop/copy.py",
        """
        from shop.models import Order


        def same_query_elsewhere(email):
            return list(Order.objects.filter(customer_email=email))
    """,
    )
    findings = _checked(root)
    sources = {p: (root / p).read_text().splitlines() for p in {f["path"] for f in findings}}
    for f in findings:
        line = sources[f["path"]][f["line"] - 1]
        called = f["message"].split(" ", 1)[0]
        head = called.removesuffix("(...)").rsplit(".", 1)[0].split("[", 1)[0]
        assert head in line, (f, line)


def test_queries_only_tests_reach_are_flagged_only_when_asked(example_copy: Path) -> None:
    # A factory's lookup is test code: it drives no proposal, so check does not flag it,
    # unless --include-test-queries (the same switch as analyze's).
    (example_copy / "monitoring" / "factories.py").write_text(
        "from monitoring.models import IntegrationLog\n\n\n"
        "def logs_of_level(level):\n"
        "    return list(IntegrationLog.objects.filter(level=level, integration='x')[:5])\n"
    )
    target = str(example_copy / "monitoring" / "factories.py")
    quiet = run_cli("check", target, "--project", str(example_copy))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    flagged = run_cli("check", target, "--project", str(example_copy), "--include-test-queries")
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert "factories.py:5:" in flagged.stdout


STAMPED = """
from django.db import models


class Order(models.Model):
    status = models.CharField(max_length=16)
    placed_at = models.DateTimeField(auto_now_add=True)
"""
AGED = """
from shop.models import Order


def old_count(x):
    return Order.objects.filter(placed_at__lt=x).count()


def purge(x):
    return Order.objects.filter(placed_at__lt=x).delete()


def newest():
    return Order.objects.order_by("-placed_at").first()
"""


def test_a_query_the_merge_serves_by_another_index_names_that_index(tmp_path: Path) -> None:
    # Alone, the age range gets a BRIN; across the files analyze folds it into the B-tree the
    # newest-first listing needs. check keeps the stable per-query name and says which index
    # analyze proposes, so a user following it builds one index on placed_at, not two.
    write_project(tmp_path, STAMPED, AGED)
    run = run_cli("analyze", "--format", "json", cwd=tmp_path)
    [rec] = json.loads(run.stdout)["recommendations"]
    _, findings = check_json(tmp_path)
    assert len(findings) == 3
    for f in findings:
        if rec["name"] in f["suggestion"]:
            assert "analyze proposes" not in f["message"]
        else:
            assert "_brin" in f["suggestion"]
            assert f["message"].endswith(
                f"with the other queries analysed, analyze proposes {rec['name']}, which "
                "serves this one too: build that one instead"
            )
