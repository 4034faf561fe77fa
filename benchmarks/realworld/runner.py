"""Run the real-world benchmark inside its own venv: per app, strip the maintainers' indexes
from a copy of the installed app, prove with Django's autodetector that exactly they are
missing, capture the driver's workload on a throwaway database, analyse (a) static scan + the
workload as SQL and (b) the capture file alone, and score both against the ground truth."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.realworld.score import score

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
SITE = HERE / "site"
RESULTS = HERE / "results.json"
APPS = ("celery_results", "reversion", "axes", "q2", "tasks")
MARKER = ".realworld-work"  # only directories carrying it are ever deleted
SERVER_URL = os.environ.get(
    "IDXADVISOR_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class BenchmarkError(Exception):
    """A step of the benchmark's own set-up failed: stop loudly, this is not a finding."""


def load_ground_truth(app: str) -> dict[str, Any]:
    with open(HERE / app / "ground_truth.toml", "rb") as f:
        return tomllib.load(f)


def prepare(app: str, gt: dict[str, Any]) -> Path:
    """A fresh work dir: the site, the driver and a stripped copy of the installed package."""
    work = WORK / app
    if work.exists():
        if not (work / MARKER).exists():
            raise BenchmarkError(f"{work} exists and was not made by this benchmark")
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(SITE, work, ignore=ignore)
    (work / MARKER).write_text("made by benchmarks.realworld; deleted on the next run\n")
    shutil.copy(HERE / app / "app_settings.py", work / "rwsite" / "app_settings.py")
    shutil.copy(HERE / app / "driver.py", work / "driver.py")
    spec = importlib.util.find_spec(gt["package"])
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkError(f"{gt['package']} is not installed in {sys.prefix}")
    copy = work / gt["package"]
    shutil.copytree(next(iter(spec.submodule_search_locations)), copy, ignore=ignore)
    for edit in gt["strip"]:
        path = copy / edit["file"]
        text = path.read_text()
        found = text.count(edit["old"])
        if found != edit["count"]:
            raise BenchmarkError(
                f"{app}: strip edit on {edit['file']} matches {found} times, "
                f"expected {edit['count']}: {edit['old'][:60]!r}"
            )
        path.write_text(text.replace(edit["old"], edit.get("new", "")))
    return work


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH", "REALWORLD_CONFIG"}
    }
    env.update(DJANGO_SETTINGS_MODULE="rwsite.settings", **extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def verify_strip(app: str, gt: dict[str, Any], work: Path) -> list[str]:
    """Assert the copy is what Django imports and that exactly the ground truth is missing."""
    out = _run(
        [sys.executable, str(HERE / "verify_strip.py"), gt["label"], gt["package"]], work, _env()
    )
    if out.returncode != 0:
        raise BenchmarkError(f"{app}: verify_strip failed:\n{out.stderr[-2000:]}")
    found = json.loads(out.stdout)
    if not Path(found["module"]).resolve().is_relative_to(work.resolve()):
        raise BenchmarkError(f"{app}: Django imported {found['module']}, not the stripped copy")
    if found["unexpected"]:
        raise BenchmarkError(f"{app}: unexpected model changes: {found['unexpected']}")
    removed = sorted((r["table"], tuple(r["keys"]), r["partial"]) for r in found["removed"])
    wanted = sorted((i["table"], tuple(i["keys"]), bool(i.get("condition"))) for i in gt["index"])
    if removed != wanted:
        raise BenchmarkError(f"{app}: stripped models lack {removed}, ground truth is {wanted}")
    # The documented check, as a user would run it: makemigrations sees changes to make.
    check = _run(
        [sys.executable, "manage.py", "makemigrations", gt["label"], "--dry-run", "--check"],
        work,
        _env(),
    )
    if check.returncode != 1:
        raise BenchmarkError(
            f"{app}: makemigrations --check exited {check.returncode}: "
            f"{check.stdout[-1000:]}{check.stderr[-1000:]}"
        )
    return [line.strip() for line in check.stdout.splitlines() if line.strip().startswith("-")]


def _psql(sql: str) -> None:
    import psycopg

    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def _throwaway_database(prefix: str) -> Iterator[str]:
    """The URL of a new database on the benchmark server, dropped on leaving."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    _psql(f'CREATE DATABASE "{name}"')
    try:
        yield SERVER_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configs(app: str) -> list[str]:
    """The documented settings variants ``<app>/app_settings.py`` lists, in order.

    The driver runs once per variant, each on a fresh database, appending to one capture: the
    app's code takes a different query path under each (e.g. Axes' lockout parameters).
    """
    spec = importlib.util.spec_from_file_location(
        f"rw_{app}_settings", HERE / app / "app_settings.py"
    )
    if spec is None or spec.loader is None:
        raise BenchmarkError(f"{app}: cannot load app_settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(getattr(module, "CONFIGS", {"default": {}}))


def capture(app: str, work: Path) -> tuple[Path, float, list[str]]:
    """Run the driver under ``idxadvisor capture`` once per config, each on a database made
    and dropped here, all into one capture file."""
    names = configs(app)
    elapsed = 0.0
    for n, config in enumerate(names):
        with _throwaway_database(f"idxadvisor_rw_{app}") as url:
            start = time.perf_counter()
            out = _run(
                [
                    str(Path(sys.executable).parent / "idxadvisor"),
                    "capture",
                    "-o",
                    "capture.jsonl",
                    *(["--append"] if n else []),
                    "--",
                    sys.executable,
                    "driver.py",
                ],
                work,
                _env(REALWORLD_DATABASE_URL=url, REALWORLD_CONFIG=config),
            )
            elapsed += time.perf_counter() - start
        if out.returncode != 0:
            raise BenchmarkError(
                f"{app}: the driver failed under capture (config {config}):\n{out.stderr[-3000:]}"
            )
    return work / "capture.jsonl", elapsed, names


def capture_to_sql(capture_file: Path) -> Path:
    """The captured statements as a ``.sql`` workload, weights kept in idxadvisor comments."""
    from idxadvisor.sources.capture.workload_file import read_workload_file

    statements, _skipped = read_workload_file(capture_file)
    lines = []
    for s in statements:
        lines.append(f"-- idxadvisor: calls={s.calls} total_ms={s.total_time_ms:.3f}")
        lines.append(s.sql.rstrip().rstrip(";") + ";")
    path = capture_file.with_suffix(".sql")
    path.write_text("\n".join(lines) + "\n")
    return path


def analyze(work: Path, args: list[str]) -> tuple[dict[str, Any] | None, str, float]:
    """``idxadvisor analyze --format json``; a crash or bad exit is returned as a finding."""
    start = time.perf_counter()
    out = _run(
        [
            str(Path(sys.executable).parent / "idxadvisor"),
            "analyze",
            str(work),
            "--format",
            "json",
            *args,
        ],
        work,
        _env(),
    )
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        return None, f"exit {out.returncode}: {out.stderr.strip()[-1500:]}", elapsed
    try:
        return json.loads(out.stdout), "", elapsed
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc}): {out.stdout[:300]}", elapsed


def check_ddl(app: str, work: Path, reports: list[dict[str, Any]]) -> dict[str, str]:
    """Every proposed statement run on PostgreSQL: a fresh database migrated with the app's
    stripped models, each proposal's extensions created, its ``CREATE INDEX CONCURRENTLY`` run
    (autocommit, as a migration runs it). ``{sql: error}`` for those PostgreSQL rejects."""
    import psycopg

    proposals: dict[str, list[str]] = {}
    for report in reports:
        for r in report["recommendations"]:
            proposals.setdefault(r["sql"], list(r.get("extensions") or []))
    rejected: dict[str, str] = {}
    with _throwaway_database(f"idxadvisor_rw_ddl_{app}") as url:
        out = _run(
            [sys.executable, "manage.py", "migrate", "-v0"], work, _env(REALWORLD_DATABASE_URL=url)
        )
        if out.returncode != 0:
            raise BenchmarkError(f"{app}: migrate for the DDL check failed:\n{out.stderr[-2000:]}")
        with psycopg.connect(url, autocommit=True) as conn:
            for sql, extensions in sorted(proposals.items()):
                try:
                    for extension in extensions:
                        conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{extension}"')
                    conn.execute(sql)
                except psycopg.Error as exc:
                    rejected[sql] = str(exc).strip().splitlines()[0]
    return rejected


def run_app(app: str) -> dict[str, Any]:
    gt = load_ground_truth(app)
    work = prepare(app, gt)
    changes = verify_strip(app, gt, work)
    capture_file, capture_s, config_names = capture(app, work)
    sql_file = capture_to_sql(capture_file)
    modes = {
        "static+sql": ["--workload", str(sql_file)],
        "capture": ["--no-static", "--workload", str(capture_file)],
    }
    result: dict[str, Any] = {
        "app": app,
        "name": gt["name"],
        "requirement": gt["requirement"],
        "ground_truth": gt["index"],
        "makemigrations": changes,
        "configs": config_names,
        "capture_seconds": round(capture_s, 2),
        "modes": {},
    }
    reports: dict[str, dict[str, Any]] = {}
    for mode, args in modes.items():
        report, error, elapsed = analyze(work, args)
        entry: dict[str, Any] = {"seconds": round(elapsed, 2)}
        if report is None:
            entry["error"] = error
        else:
            reports[mode] = report
            entry.update(score(gt["index"], report).as_dict())
            entry["statements"] = report["summary"]["statements"]
            entry["analysed"] = report["summary"]["analysed"]
            entry["skipped"] = report["summary"]["skipped"]
            # Proof that the scan read the app's own code, not just the driver.
            entry["queries_from_app_code"] = sum(
                any(o.startswith(gt["package"] + "/") for o in q["origins"])
                for q in report["queries"]
            )
            entry["proposals_detail"] = [
                {
                    "table": r["table"],
                    "sql": r["sql"],
                    "serves": len(r["serves"]),
                    "strength": r.get("strength"),
                }
                for r in report["recommendations"]
            ]
        result["modes"][mode] = entry
    rejected = check_ddl(app, work, list(reports.values()))
    for mode, report in reports.items():
        result["modes"][mode]["invalid_ddl"] = [
            {"sql": r["sql"], "error": rejected[r["sql"]]}
            for r in report["recommendations"]
            if r["sql"] in rejected
        ]
    return result


def _row(label: str, mode: str, e: dict[str, Any]) -> list[str]:
    if "error" in e:
        return [label, mode, "crashed", "", "", "", "", "", "", "", f"{e['seconds']:.1f}"]
    ppf = e["proposals_per_found"]
    spf = e.get("strong_per_found")
    return [
        label,
        mode,
        f"{e['found']}/{e['total']}",
        f"{e['partial_found']}/{e['partial_total']}",
        str(e["proposals"]),
        "—" if ppf is None else f"{ppf:.2f}",
        str(e.get("strong", e["proposals"])),
        "—" if spf is None else f"{spf:.2f}",
        str(e["pk_unique_served"]),
        str(e["invalid_ddl"]) if isinstance(e["invalid_ddl"], int) else str(len(e["invalid_ddl"])),
        f"{e['seconds']:.1f}",
    ]


def markdown(results: list[dict[str, Any]]) -> str:
    head = [
        "app",
        "mode",
        "indexes found",
        "partial with WHERE",
        "proposals",
        "proposals / found",
        "strong",
        "strong / found",
        "PK/unique-served",
        "invalid DDL",
        "time (s)",
    ]
    rows = []
    for mode in ("static+sql", "capture"):
        totals = {
            "found": 0,
            "total": 0,
            "partial_found": 0,
            "partial_total": 0,
            "proposals": 0,
            "strong": 0,
            "pk_unique_served": 0,
            "invalid_ddl": 0,
            "seconds": 0.0,
        }
        for r in results:
            e = r["modes"][mode]
            rows.append(_row(r["name"], mode, e))
            if "error" in e:
                totals["total"] += sum(i.get("scored", True) for i in r["ground_truth"])
                totals["partial_total"] += sum(
                    bool(i.get("condition")) and i.get("scored", True) for i in r["ground_truth"]
                )
                totals["seconds"] += e["seconds"]
                continue
            for k in totals:
                if k == "invalid_ddl":
                    totals[k] += len(e.get(k, ()))
                    continue
                totals[k] += e.get(k, e["proposals"] if k == "strong" else 0)
        totals["proposals_per_found"] = (
            round(totals["proposals"] / totals["found"], 2) if totals["found"] else None
        )
        totals["strong_per_found"] = (
            round(totals["strong"] / totals["found"], 2) if totals["found"] else None
        )
        rows.append(_row("**total**", mode, totals))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.realworld")
    parser.add_argument(
        "--app",
        action="append",
        choices=APPS,
        help="run only this app (repeatable); results.json is then not written",
    )
    args = parser.parse_args(argv)
    results = []
    for app in args.app or APPS:
        start = time.perf_counter()
        try:
            results.append(run_app(app))
        except BenchmarkError as exc:
            print(f"benchmark error: {exc}", file=sys.stderr)
            return 2
        print(f"{app}: done in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    if not args.app:
        tmp = RESULTS.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"results": results}, indent=1) + "\n")
        os.replace(tmp, RESULTS)
    print(markdown(results))
    return 0
