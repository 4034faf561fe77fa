"""Smoke test of the benchmark: `python -m benchmarks.run --scale small` completes on a real
server and writes results for every configuration. Timings are never asserted here; the figures
come from `--scale full` (benchmarks/results/full.json)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from benchmarks import handtuned
from benchmarks.run import index_shape
from tests.helpers import ROOT, run_python

CONFIGURATIONS = {
    "default (Django's indexes only)",
    "idxadvisor (static)",
    "idxadvisor (live)",
    "hand-tuned (DBA)",
    "pg_qualstats",
    "supabase-style (HypoPG, single column)",
    "django-index-optimizer",
}
# These run wherever the CI's PostgreSQL has HypoPG and pg_qualstats; the others may report
# "did not run: <reason>" (live mode still being built, a PyPI package not installed).
MUST_RUN = {
    "default (Django's indexes only)",
    "idxadvisor (static)",
    "hand-tuned (DBA)",
    "pg_qualstats",
    "supabase-style (HypoPG, single column)",
}
FAMILIES = {"webhook_retry", "alert_rules", "user_profiles", "integration_logs"}


@pytest.fixture(scope="module")
def small_run(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "small.json"
    run = run_python(
        "-m",
        "benchmarks.run",
        "--scale",
        "small",
        "--database-url",
        pg_server_url,
        "--output",
        str(out),
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert out.exists(), run.stdout
    results = json.loads(out.read_text())
    results["_stdout"] = run.stdout
    results["_path"] = out
    return results


def test_every_configuration_is_reported(small_run: dict) -> None:
    rows = {row["name"]: row for row in small_run["configurations"]}
    assert set(rows) == CONFIGURATIONS
    for name, row in rows.items():
        assert row["status"] == "ok" or row["status"].startswith("did not run: "), row
        if name in MUST_RUN:
            assert row["status"] == "ok", row["status"]


def test_configurations_that_ran_were_timed_and_reverted(small_run: dict) -> None:
    workload_names = {q["name"] for q in small_run["workload"]}
    assert {q["family"] for q in small_run["workload"]} == FAMILIES
    for row in small_run["configurations"]:
        if row["status"] != "ok":
            continue
        assert set(row["family_ms"]) == FAMILIES
        assert {q["name"] for q in row["queries"]} == workload_names
        assert all(len(q["samples_ms"]) == small_run["timing"]["runs"] for q in row["queries"])
        assert row["revert"]["restored"], row["revert"]
        assert row["index_count"] == len(row["indexes"])
        assert row["speedup_geomean"] > 0
        if row["name"] != "default (Django's indexes only)":
            # every advisor proposes something for this workload, and the runner built it
            assert row["index_count"] > 0, row
            assert row["index_bytes"] > 0
            assert not row["failed_statements"], row["failed_statements"]


def test_idxadvisor_is_applied_through_its_migrations(small_run: dict) -> None:
    [row] = [r for r in small_run["configurations"] if r["name"] == "idxadvisor (static)"]
    assert row["applied_via"] == "generated migrations"
    assert row["details"]["migrations"], "generate wrote no migration"


def test_handtuned_set_is_built_and_used(small_run: dict) -> None:
    [row] = [r for r in small_run["configurations"] if r["name"] == handtuned.NAME]
    assert row["applied_via"] == "SQL (by hand)"
    # every index of the set was built (none failed, none skipped), under its own name
    assert not row["failed_statements"], row["failed_statements"]
    built = {i["name"]: i for i in row["indexes"]}
    assert set(built) == {i.name for i in handtuned.INDEXES}
    assert all(i["bytes"] > 0 for i in built.values())
    assert row["net_index_bytes"] == sum(i["bytes"] for i in built.values())
    # and the plans take them: at this scale the planner still prefers most of them
    used = {name for q in row["queries"] for name in q["indexes_used"] if name in built}
    assert len(used) >= len(built) // 2, used
    assert {"handtuned_log_message_trgm", "handtuned_profile_email"} <= used
    # pg_trgm came with the set and went with it, so the next advisor sees the default state
    assert "dropped extension pg_trgm, created by the build" in row["revert"]["notes"]


def test_idxadvisor_is_compared_with_the_handtuned_set(small_run: dict) -> None:
    comparison = small_run["handtuned_comparison"]
    assert comparison["status"] == "ok"
    rows = {r["name"]: r for r in small_run["configurations"]}
    hand = rows[handtuned.NAME]
    assert comparison["handtuned_bytes"] == hand["net_index_bytes"] > 0
    ran = {n for n, r in rows.items() if n.startswith("idxadvisor") and r["status"] == "ok"}
    assert "idxadvisor (static)" in ran
    assert set(comparison["configurations"]) == ran
    hand_shapes = {index_shape(i["definition"]) for i in hand["indexes"]}
    for name in ran:
        c, row = comparison["configurations"][name], rows[name]
        assert c["bytes_ratio"] == round(row["net_index_bytes"] / hand["net_index_bytes"], 3)
        assert c["time_ratio_geomean"] > 0
        assert isinstance(c["goal_met"], bool)
        # every index of idxadvisor's set is either of a hand-tuned shape or listed as extra
        extra = {i["name"] for i in c["only_idxadvisor"]}
        assert extra | set(c["same_shape"]) == {i["name"] for i in row["indexes"]}
        assert not extra & set(c["same_shape"])
        assert all(index_shape(i["definition"]) not in hand_shapes for i in c["only_idxadvisor"])
        assert sum(i["bytes"] for i in c["only_idxadvisor"]) <= row["index_bytes"]
    assert "| Statement (median ms) |" in small_run["_stdout"]
    assert "| Against the hand-tuned set" in small_run["_stdout"]


def test_index_shape_ignores_name_unique_and_desc() -> None:
    plain = "CREATE INDEX a_idx ON public.t USING btree (org, created_at DESC) WHERE x"
    unique = "CREATE UNIQUE INDEX b_uniq ON public.t USING btree (org, created_at) WHERE x"
    assert index_shape(plain) == index_shape(unique)
    assert index_shape(plain) == "CREATE INDEX ON public.t USING btree (org, created_at) WHERE x"
    other = "CREATE INDEX a_idx ON public.t USING btree (org, created_at) INCLUDE (id) WHERE x"
    assert index_shape(other) != index_shape(plain)


def test_throughput_side_benchmarks_and_markdown_table(small_run: dict) -> None:
    pure = small_run["throughput"]["pure"]
    # Statements that differ only in a LIMIT value are one query shape (literal folding).
    assert 0.9 * pure["statements"] <= pure["distinct_shapes"] <= pure["statements"]
    assert pure["parse"]["statements_per_second"] > 0
    for side in ("capture_overhead", "check_latency"):
        status = small_run[side]["status"]
        assert status == "ok" or status.startswith("did not run: "), status
    assert "| default (Django's indexes only) |" in small_run["_stdout"]
    assert "| Analysis throughput |" in small_run["_stdout"]


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib (extra 'benchmarks') is not installed",
)
def test_chart_is_written(small_run: dict) -> None:
    png = Path(small_run["_path"]).with_name("small_family_times.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
