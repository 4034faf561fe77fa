"""The benchmark in one command: the same data, the same workload, every advisor's indexes.

    python -m benchmarks.run --scale small    # < 2 minutes, the CI smoke test
    python -m benchmarks.run --scale full     # the README figures (1M deliveries, 2M logs)

One run uses one fresh database on the server (``--database-url``, default the local one): it
is migrated with the example's migrations, filled by :mod:`benchmarks.datagen`, vacuumed, and
then each configuration takes its turn on the same data:

* ``default``: only the indexes Django creates by itself;
* ``idxadvisor (static)``, ``idxadvisor (live)``: ``idxadvisor generate`` on a copy of the
  example, then ``manage.py migrate`` (``migrate monitoring 0001`` afterwards to revert); the
  benchmark database has HypoPG installed (when the server has it), as live mode expects;
* ``hand-tuned (DBA)``: the indexes a careful DBA would build, :mod:`benchmarks.handtuned`;
* ``pg_qualstats``, ``supabase-style``, ``django-index-optimizer``: see ``benchmarks/advisors``.

Every advisor looks at the default-index state. For each configuration the runner builds the
indexes, ANALYZEs, times every statement of the workload with ``EXPLAIN (ANALYZE, BUFFERS,
FORMAT JSON)`` (one warm-up, then the median of N runs; every statement inside a transaction
that is rolled back, so the retention DELETE deletes nothing), then drops the indexes and checks
with ``pg_indexes`` that the default state is back (an extension the build step created is
dropped too). The database is dropped at the end.

Each configuration reports its index bytes (``pg_relation_size`` of the indexes it added, less
those it removed), each statement's median time and the geometric-mean speed-up over
``default``. ``handtuned_comparison`` then sets idxadvisor's sets against the hand-tuned one:
the byte ratio, the time ratio, and which indexes differ, with their bytes and the statements
whose plans use them.

Results go to ``benchmarks/results/<scale>.json`` and a chart to ``.../<scale>_family_times.png``
(``full`` writes ``full.json`` and ``family_times.png``, the README's files).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from benchmarks import datagen, handtuned, throughput
from benchmarks.advisors import (
    Advice,
    did_not_run,
    idxadvisor_migrations,
    qualstats,
    supabase_style,
)
from benchmarks.advisors import django_index_optimizer as dio
from benchmarks.workload import (
    EXAMPLE,
    FAMILIES,
    WorkloadQuery,
    capture_queries,
    pick_parameters,
)
from idxadvisor.errors import one_line

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True, slots=True)
class Scale:
    data_scale: float  # datagen scale: 1.0 = 1M deliveries, 2M logs
    runs: int  # timed EXPLAIN ANALYZE runs per statement (after one warm-up)
    shapes: int  # synthetic statements for the throughput benchmark
    sqlglotc: bool  # also measure the compiled sqlglot (builds a cached venv once)
    collect_repeats: int  # plain executions of the workload for pgss/qualstats advisors


SCALES = {
    "small": Scale(data_scale=0.02, runs=3, shapes=500, sqlglotc=False, collect_repeats=5),
    "full": Scale(data_scale=1.0, runs=5, shapes=10_000, sqlglotc=True, collect_repeats=5),
}


def server_url(cli_value: str | None) -> str:
    return (
        cli_value
        or os.environ.get("IDXADVISOR_TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or DEFAULT_SERVER
    )


def database_url(server: str, name: str) -> str:
    params = {k: v for k, v in conninfo_to_dict(server).items() if v is not None}
    params["dbname"] = name
    user = params.get("user", "postgres")
    password = params.get("password")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql://{auth}{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{name}"


def _manage(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )


# --- indexes -----------------------------------------------------------------------------------


def index_state(conn: psycopg.Connection) -> dict[str, str]:
    """Index name -> definition for the public schema."""
    return dict(
        conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    )


def index_sizes(conn: psycopg.Connection, names: list[str]) -> dict[str, int]:
    return {
        name: conn.execute(
            "SELECT pg_relation_size(format('public.%%I', %s::text)::regclass)", [name]
        ).fetchone()[0]
        for name in names
    }


def extension_names(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}


def drop_indexes(conn: psycopg.Connection, names: list[str]) -> None:
    for name in names:
        conn.execute(sql.SQL("DROP INDEX IF EXISTS public.{}").format(sql.Identifier(name)))


def analyze_tables(conn: psycopg.Connection) -> None:
    for table in datagen.TABLES:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


# --- timing ------------------------------------------------------------------------------------


def _index_names(plan: dict[str, Any]) -> list[str]:
    names = [plan["Index Name"]] if "Index Name" in plan else []
    for child in plan.get("Plans", ()):
        names += _index_names(child)
    return names


def time_workload(
    conn: psycopg.Connection, queries: list[WorkloadQuery], runs: int
) -> list[dict[str, Any]]:
    """Median EXPLAIN ANALYZE execution time of each statement, after one warm-up run."""
    timed = []
    for query in queries:
        samples: list[float] = []
        plan: dict[str, Any] = {}
        for attempt in range(runs + 1):
            with conn.transaction(force_rollback=True):
                plan = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query.sql
                ).fetchone()[0][0]
            if attempt:  # the first run warms the cache
                samples.append(plan["Execution Time"])
        timed.append(
            {
                "family": query.family,
                "name": query.name,
                "median_ms": round(statistics.median(samples), 3),
                "samples_ms": [round(s, 3) for s in samples],
                "planning_ms": round(plan.get("Planning Time", 0.0), 3),
                "top_node": plan["Plan"]["Node Type"],
                "indexes_used": sorted(set(_index_names(plan["Plan"]))),
            }
        )
    return timed


# --- one configuration -------------------------------------------------------------------------


def apply_advice(
    conn: psycopg.Connection, advice: Advice, url: str, baseline_migration: str
) -> tuple[float, list[str]]:
    """Build the advised indexes; return the seconds it took and the statements that failed."""
    failed: list[str] = []
    started = time.perf_counter()
    if advice.migrate_project is not None:
        proc = _manage(advice.migrate_project, url, "migrate", "--no-input")
        if proc.returncode != 0:
            failed.append(f"manage.py migrate: {proc.stderr.strip()[-500:]}")
    for statement in advice.statements:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            failed.append(f"{statement}: {str(exc).strip().splitlines()[0]}")
    return time.perf_counter() - started, failed


def revert_advice(
    conn: psycopg.Connection,
    advice: Advice,
    url: str,
    baseline: dict[str, str],
    baseline_migration: str,
    extensions_before: set[str],
) -> dict[str, Any]:
    """Back to the default indexes: unapply migrations, drop leftovers (indexes, then the
    extensions the build created), compare with baseline."""
    notes = []
    if advice.migrate_project is not None:
        proc = _manage(
            advice.migrate_project, url, "migrate", "monitoring", baseline_migration, "--no-input"
        )
        if proc.returncode != 0:
            notes.append(f"migrate back failed: {proc.stderr.strip()[-300:]}")
    leftovers = sorted(set(index_state(conn)) - set(baseline))
    if leftovers:
        if advice.migrate_project is not None:
            notes.append(f"left by the reverse migration, dropped: {leftovers}")
        drop_indexes(conn, leftovers)
    # The next configuration must find the same extensions (pg_trgm changes nothing for a plan
    # by itself, but an advisor may look at what is installed).
    for extension in sorted(extension_names(conn) - extensions_before):
        conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {}").format(sql.Identifier(extension)))
        notes.append(f"dropped extension {extension}, created by the build")
    state = index_state(conn)
    return {
        "restored": state == baseline,
        "notes": notes,
        "missing": sorted(set(baseline) - set(state)),
    }


def run_configuration(
    conn: psycopg.Connection,
    name: str,
    advise: Callable[[], Advice] | None,
    queries: list[WorkloadQuery],
    scale: Scale,
    url: str,
    baseline: dict[str, str],
    baseline_migration: str,
    baseline_sizes: dict[str, int],
) -> dict[str, Any]:
    """Advise (default state), build, time, revert. Never raises for an advisor's failure."""
    print(f"[benchmark] {name}: advising", file=sys.stderr, flush=True)
    if advise is None:
        advice = Advice(advisor=name, advise_seconds=0.0, applied_via="-")
    else:
        try:
            advice = advise()
        except Exception as exc:  # an advisor's bug must not sink the other rows
            advice = did_not_run(name, f"{type(exc).__name__}: {exc}")
        finally:
            conn.rollback()
            conn.autocommit = True
    row: dict[str, Any] = {
        "name": name,
        "status": advice.status,
        "applied_via": advice.applied_via,
        "advise_seconds": (
            round(advice.advise_seconds, 3) if advice.advise_seconds is not None else None
        ),
        "details": advice.details,
    }
    if not advice.ran:
        print(f"[benchmark] {name}: {advice.status}", file=sys.stderr, flush=True)
        return row
    extensions_before = extension_names(conn)
    build_seconds, failed = apply_advice(conn, advice, url, baseline_migration)
    analyze_tables(conn)
    state = index_state(conn)
    created = sorted(set(state) - set(baseline))
    # An advisor may also drop an index (a foreign-key index its composite leads with): it
    # counts against the bytes the configuration adds.
    removed = sorted(set(baseline) - set(state))
    sizes = index_sizes(conn, created)
    print(f"[benchmark] {name}: {len(created)} indexes, timing", file=sys.stderr, flush=True)
    timed = time_workload(conn, queries, scale.runs)
    families = {
        f: round(sum(t["median_ms"] for t in timed if t["family"] == f), 3) for f in FAMILIES
    }
    row.update(
        {
            "statements": list(advice.statements),
            "failed_statements": failed,
            "build_seconds": round(build_seconds, 3),
            "indexes": [{"name": n, "definition": state[n], "bytes": sizes[n]} for n in created],
            "index_count": len(created),
            "index_bytes": sum(sizes.values()),
            "removed_indexes": [
                {"name": n, "definition": baseline[n], "bytes": baseline_sizes[n]} for n in removed
            ],
            "net_index_bytes": sum(sizes.values()) - sum(baseline_sizes[n] for n in removed),
            "total_ms": round(sum(families.values()), 3),
            "family_ms": families,
            "queries": timed,
        }
    )
    row["revert"] = revert_advice(
        conn, advice, url, baseline, baseline_migration, extensions_before
    )
    if not row["revert"]["restored"]:
        raise RuntimeError(f"{name}: the default index state was not restored: {row['revert']}")
    return row


def add_speedups(configurations: list[dict[str, Any]]) -> None:
    """Geometric mean over statements of default time / configuration time, per configuration.

    The total is dominated by the few statements no B-tree serves (the retention DELETE, the
    leading-wildcard search); the geometric mean weighs every statement alike.
    """
    default = configurations[0]
    for row in configurations:
        if row["status"] != "ok":
            continue
        ratios = [
            max(d["median_ms"], 0.001) / max(q["median_ms"], 0.001)
            for d, q in zip(default["queries"], row["queries"], strict=True)
        ]
        row["speedup_geomean"] = round(statistics.geometric_mean(ratios), 2)
        row["statements_10x_faster"] = sum(r >= 10 for r in ratios)


# --- against the hand-tuned set ---------------------------------------------------------------

# idxadvisor's goal: about the hand-tuned time with at most this many times its bytes.
MAX_BYTES_RATIO = 1.2
# "About the same time": the geometric mean over statements of idxadvisor's time / the
# hand-tuned time at most this, and no statement both SLOWER_FACTOR times and SLOWER_MS slower
# (sub-millisecond times move by more than their size under the machine's other load).
MAX_TIME_RATIO = 1.15
TIME_FLOOR_MS = 0.1
SLOWER_FACTOR = 1.5
SLOWER_MS = 1.0
_INDEX_NAME = re.compile(r"^CREATE (?:UNIQUE )?INDEX \S+ ON ")


def index_shape(definition: str) -> str:
    """An index definition without its name, UNIQUE or DESC: two indexes of one shape hold the
    same entries and take the same bytes."""
    return _INDEX_NAME.sub("CREATE INDEX ON ", definition).replace(" DESC", "")


def _used_by(row: dict[str, Any], index: str) -> list[str]:
    return [q["name"] for q in row["queries"] if index in q["indexes_used"]]


def compare_with_handtuned(configurations: list[dict[str, Any]]) -> dict[str, Any]:
    """Each idxadvisor set against the hand-tuned one: bytes, time, and the indexes that differ.

    An index of one set with no index of the same shape in the other is listed with its bytes
    and the statements whose plans use it: the extra bytes are the ones to explain.
    """
    rows = {r["name"]: r for r in configurations if r["status"] == "ok"}
    hand = rows.get(handtuned.NAME)
    if hand is None:
        return {"status": "did not run: the hand-tuned configuration failed"}
    hand_shapes = {index_shape(i["definition"]): i for i in hand["indexes"]}
    out: dict[str, Any] = {
        "status": "ok",
        "criterion": (
            f"net index bytes <= {MAX_BYTES_RATIO}x the hand-tuned set's, geo-mean statement "
            f"time ratio <= {MAX_TIME_RATIO} (times floored at {TIME_FLOOR_MS} ms), and no "
            f"statement >= {SLOWER_FACTOR}x and >= {SLOWER_MS} ms slower"
        ),
        "handtuned_bytes": hand["net_index_bytes"],
        "configurations": {},
    }
    for name, row in rows.items():
        if not name.startswith("idxadvisor"):
            continue
        ratios, slower = [], []
        for mine, theirs in zip(row["queries"], hand["queries"], strict=True):
            a, b = mine["median_ms"], theirs["median_ms"]
            ratios.append(max(a, TIME_FLOOR_MS) / max(b, TIME_FLOOR_MS))
            if a >= SLOWER_FACTOR * b and a - b >= SLOWER_MS:
                slower.append({"name": mine["name"], "ms": a, "handtuned_ms": b})
        shapes = {index_shape(i["definition"]): i for i in row["indexes"]}
        bytes_ratio = row["net_index_bytes"] / max(hand["net_index_bytes"], 1)
        time_ratio = statistics.geometric_mean(ratios)
        out["configurations"][name] = {
            "net_index_bytes": row["net_index_bytes"],
            "bytes_ratio": round(bytes_ratio, 3),
            "time_ratio_geomean": round(time_ratio, 3),
            "total_ms": row["total_ms"],
            "handtuned_total_ms": hand["total_ms"],
            "slower_statements": slower,
            "goal_met": bytes_ratio <= MAX_BYTES_RATIO
            and time_ratio <= MAX_TIME_RATIO
            and not slower,
            "same_shape": sorted(i["name"] for s, i in shapes.items() if s in hand_shapes),
            "only_idxadvisor": [
                {**i, "used_by": _used_by(row, i["name"])}
                for s, i in sorted(shapes.items(), key=lambda kv: -kv[1]["bytes"])
                if s not in hand_shapes
            ],
            "only_handtuned": [
                {**i, "used_by": _used_by(hand, i["name"])}
                for s, i in sorted(hand_shapes.items(), key=lambda kv: -kv[1]["bytes"])
                if s not in shapes
            ],
            "removed": row["removed_indexes"],
        }
    return out


# --- the whole run -----------------------------------------------------------------------------


# The other helpers' benchmarks, run as their own command lines, per scale.
SIDE_BENCHMARKS = {
    "capture_overhead": {
        "small": ["--runs", "1", "--tests", "5", "--queries-per-test", "50"],
        "full": [],
    },
    "check_latency": {"small": ["--runs", "1", "--changed", "5"], "full": []},
}
_CHECK_MEDIAN = re.compile(r"median: ([0-9.]+) s wall, ([0-9.]+) s CPU")
_CHECK_CHANGED = re.compile(r"changed files: (\d+)")


def side_benchmark(module: str, scale_name: str, server: str) -> dict[str, Any]:
    """Run ``benchmarks/<module>.py`` if it exists; its figures, or why it did not run."""
    if not (ROOT / "benchmarks" / f"{module}.py").exists():
        return {"status": f"did not run: benchmarks/{module}.py does not exist yet"}
    env = {**os.environ, "IDXADVISOR_BENCH_DATABASE_URL": server}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    args = SIDE_BENCHMARKS[module][scale_name]
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        return {"status": f"did not run: {tail[:300]}"}
    if module == "capture_overhead":
        return {"status": "ok", "args": args, **json.loads(lines[-1])}
    median = _CHECK_MEDIAN.search(proc.stdout)
    changed = _CHECK_CHANGED.search(proc.stdout)
    if not median:
        return {"status": f"did not run: unexpected output: {lines[-1][:200]}"}
    return {
        "status": "ok",
        "args": args,
        "median_wall_seconds": float(median[1]),
        "median_cpu_seconds": float(median[2]),
        "changed_files": int(changed[1]) if changed else None,
        "output": lines,
    }


def run(
    scale_name: str,
    server: str,
    output: Path,
    *,
    chart: bool = True,
    keep_database: bool = False,
    data_scale: float | None = None,
) -> dict[str, Any]:
    """The whole benchmark; returns (and writes) the results."""
    scale = SCALES[scale_name]
    if data_scale is not None:
        scale = Scale(data_scale, scale.runs, scale.shapes, scale.sqlglotc, scale.collect_repeats)
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    name = f"idxadvisor_bench_{uuid.uuid4().hex[:10]}"
    url = database_url(server, name)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        server_version = admin.execute("SHOW server_version").fetchone()[0]
    workdir = Path(tempfile.mkdtemp(prefix="idxadvisor-bench-"))
    try:
        project = workdir / "baseline" / EXAMPLE.name
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        proc = _manage(project, url, "migrate", "--no-input")
        if proc.returncode != 0:
            raise RuntimeError(f"migrating the benchmark database failed:\n{proc.stderr}")
        baseline_migration = max(
            p.stem for p in (project / "monitoring" / "migrations").glob("0*.py")
        )
        with psycopg.connect(url) as conn:
            t0 = time.perf_counter()
            rows = datagen.generate(conn, scale=scale.data_scale)
            datagen_seconds = time.perf_counter() - t0
            conn.autocommit = True
            for table in datagen.TABLES:  # visibility map set: index-only scans are possible
                conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
            hypopg = _create_extension(conn, "hypopg")  # live mode's what-if costs
            params = pick_parameters(conn)
            queries = capture_queries(EXAMPLE, url, params)
            baseline = index_state(conn)
            baseline_sizes = index_sizes(conn, sorted(baseline))

            min_filter = max(10, round(1000 * scale.data_scale))
            advisors: list[tuple[str, Callable[[], Advice] | None]] = [
                ("default (Django's indexes only)", None),
                (
                    "idxadvisor (static)",
                    lambda: idxadvisor_migrations.advise(EXAMPLE, workdir, None),
                ),
                ("idxadvisor (live)", lambda: idxadvisor_migrations.advise(EXAMPLE, workdir, url)),
                (handtuned.NAME, handtuned.advise),
                (
                    qualstats.NAME,
                    lambda: qualstats.advise(
                        conn, queries, min_filter=min_filter, repeats=scale.collect_repeats
                    ),
                ),
                (supabase_style.NAME, lambda: supabase_style.advise(conn, queries)),
                (
                    dio.NAME,
                    lambda: dio.advise(
                        conn, queries, EXAMPLE, url, workdir, repeats=scale.collect_repeats
                    ),
                ),
            ]
            configurations = [
                run_configuration(
                    conn,
                    label,
                    advise,
                    queries,
                    scale,
                    url,
                    baseline,
                    baseline_migration,
                    baseline_sizes,
                )
                for label, advise in advisors
            ]
            add_speedups(configurations)
            comparison = compare_with_handtuned(configurations)
        print("[benchmark] throughput", file=sys.stderr, flush=True)
        speed = throughput.run(scale.shapes, scale.sqlglotc)
        extra = {}
        for module in SIDE_BENCHMARKS:
            print(f"[benchmark] {module}", file=sys.stderr, flush=True)
            extra[module] = side_benchmark(module, scale_name, server)
    finally:
        if not keep_database:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        shutil.rmtree(workdir, ignore_errors=True)

    results = {
        "version": 1,
        "scale": scale_name,
        "command": f"python -m benchmarks.run --scale {scale_name}"
        + (f" --data-scale {data_scale}" if data_scale is not None else ""),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "postgresql": server_version,
            # other work on the machine moves the timings: the 1-minute load average
            "load_average": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "hypopg": hypopg,
        },
        "data": {
            "scale": scale.data_scale,
            "rows": rows,
            "datagen_seconds": round(datagen_seconds, 2),
        },
        "timing": {
            "method": "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) execution time, median",
            "runs": scale.runs,
            "warmup_runs": 1,
        },
        "parameters": {k: v for k, v in asdict(params).items() if k != "due_delivery_ids"},
        "families": FAMILIES,
        "workload": [{"family": q.family, "name": q.name, "sql": q.sql} for q in queries],
        "configurations": configurations,
        "handtuned_comparison": comparison,
        "throughput": speed,
        **extra,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    _write_json(output, results)
    if chart:
        try:
            from benchmarks import chart as chart_module
        except ImportError as exc:  # matplotlib missing: the JSON is the result
            print(f"[benchmark] no chart: {exc}", file=sys.stderr)
        else:
            chart_module.render(results, chart_path(output))
    return results


def _create_extension(conn: psycopg.Connection, name: str) -> bool:
    """CREATE EXTENSION in the benchmark database; False when the server does not have it."""
    try:
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        print(f"[benchmark] no {name}: {one_line(exc)}", file=sys.stderr, flush=True)
        return False
    return True


def chart_path(output: Path) -> Path:
    if output.name == "full.json":
        return output.with_name("family_times.png")
    return output.with_name(f"{output.stem}_family_times.png")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def markdown(results: dict[str, Any]) -> str:
    """The README tables: one row per configuration, then throughput."""
    labels = results["families"]
    head = [
        "Configuration",
        "Total (ms)",
        *labels.values(),
        "Speed-up (geo-mean)",
        "Statements ≥10x faster",
        "Indexes",
        "Index size",
        "Time to advise",
        "Applied via",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in results["configurations"]:
        if row["status"] != "ok":
            lines.append(f"| {row['name']} | {row['status']} |" + " |" * (len(head) - 2))
            continue
        advise = "-" if row["advise_seconds"] in (None, 0.0) else f"{row['advise_seconds']:.2f} s"
        cells = [
            row["name"],
            f"{row['total_ms']:,.1f}",
            *(f"{row['family_ms'][f]:,.1f}" for f in labels),
            f"{row['speedup_geomean']:.1f}x",
            f"{row['statements_10x_faster']} of {len(row['queries'])}",
            str(row["index_count"]),
            _size(row["index_bytes"]),
            advise,
            row["applied_via"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *statement_table(results), "", *comparison_table(results)]
    pure = results["throughput"]["pure"]
    speed = [
        "",
        "| Analysis throughput | sqlglot parse only | idxadvisor workload | "
        "idxadvisor workload + patterns |",
        "|---|---|---|---|",
    ]
    for label, r in (
        ("pure Python sqlglot", pure),
        ("sqlglotc (compiled)", results["throughput"].get("sqlglotc")),
    ):
        if not r:
            continue
        if r.get("status", "ok") != "ok":
            speed.append(f"| {label} | {r['status']} | | |")
            continue
        both = r.get("workload_and_patterns", {}).get("shapes_per_second", "n/a")
        speed.append(
            f"| {label} ({r['distinct_shapes']:,} shapes) | "
            f"{r['parse']['statements_per_second']:,.0f} /s | "
            f"{r['workload']['shapes_per_second']:,.0f} /s | {both:,.0f} /s |"
        )
    side = ["", "| Other figures | Result |", "|---|---|"]
    capture = results.get("capture_overhead", {})
    if capture.get("status") == "ok":
        side.append(
            f"| `idxadvisor capture` overhead on `manage.py test` "
            f"({capture['queries_in_tests']:,} queries) | "
            f"{capture['overhead_percent']:+.1f}% ({capture['plain_seconds']:.2f} s → "
            f"{capture['captured_seconds']:.2f} s) |"
        )
    else:
        side.append(f"| `idxadvisor capture` overhead | {capture.get('status', 'n/a')} |")
    check = results.get("check_latency", {})
    if check.get("status") == "ok":
        side.append(
            f"| `idxadvisor check` latency ({check['changed_files']} changed files) | "
            f"{check['median_wall_seconds']:.2f} s wall, "
            f"{check['median_cpu_seconds']:.2f} s CPU (median) |"
        )
    else:
        side.append(f"| `idxadvisor check` latency | {check.get('status', 'n/a')} |")
    return "\n".join(lines + speed + side)


# The configurations the per-statement table shows, in this order.
STATEMENT_COLUMNS = (
    "default (Django's indexes only)",
    "idxadvisor (static)",
    "idxadvisor (live)",
    handtuned.NAME,
)


def statement_table(results: dict[str, Any]) -> list[str]:
    """Each statement's median time (ms) in the default, idxadvisor and hand-tuned states."""
    rows = {r["name"]: r for r in results["configurations"] if r["status"] == "ok"}
    shown = [name for name in STATEMENT_COLUMNS if name in rows]
    lines = [
        "| Statement (median ms) | " + " | ".join(shown) + " |",
        "|---|" + "---|" * len(shown),
    ]
    for i, query in enumerate(results["workload"]):
        cells = [f"{rows[name]['queries'][i]['median_ms']:,.3f}" for name in shown]
        lines.append(f"| {query['name']} | " + " | ".join(cells) + " |")
    lines.append(
        "| index bytes (net) | "
        + " | ".join(_size(rows[n]["net_index_bytes"]) for n in shown)
        + " |"
    )
    lines.append(
        "| speed-up over default (geo-mean) | "
        + " | ".join(f"{rows[n]['speedup_geomean']:.1f}x" for n in shown)
        + " |"
    )
    return lines


def comparison_table(results: dict[str, Any]) -> list[str]:
    """idxadvisor against the hand-tuned set, and the indexes that make the difference."""
    comparison = results.get("handtuned_comparison", {})
    if comparison.get("status") != "ok":
        return [f"Against the hand-tuned set: {comparison.get('status', 'n/a')}"]
    lines = [
        f"| Against the hand-tuned set ({_size(comparison['handtuned_bytes'])}) | Bytes | "
        "Time (geo-mean ratio) | Slower statements | Goal met |",
        "|---|---|---|---|---|",
    ]
    details = []
    for name, c in comparison["configurations"].items():
        slower = ", ".join(s["name"] for s in c["slower_statements"]) or "none"
        lines.append(
            f"| {name} | {c['bytes_ratio']:.2f}x | {c['time_ratio_geomean']:.2f}x | {slower} | "
            f"{'yes' if c['goal_met'] else 'no'} |"
        )
        for side, label in (("only_idxadvisor", "only in"), ("only_handtuned", "missing from")):
            for index in c[side]:
                used = ", ".join(index["used_by"]) or "no plan"
                details.append(
                    f"- {label} {name}: {_size(index['bytes'])} {index['definition']} "
                    f"(used by: {used})"
                )
        for index in c["removed"]:
            details.append(f"- removed by {name}: {_size(index['bytes'])} {index['definition']}")
    return [*lines, "", f"Criterion: {comparison['criterion']}.", *details]


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--database-url",
        help="server to create the benchmark database on "
        "(default: $IDXADVISOR_TEST_DATABASE_URL, $DATABASE_URL, local)",
    )
    parser.add_argument(
        "--output", type=Path, help="results JSON (default: benchmarks/results/<scale>.json)"
    )
    parser.add_argument(
        "--data-scale",
        type=float,
        help="override the datagen scale of --scale (1.0: 1M deliveries)",
    )
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    server = server_url(args.database_url)
    try:
        with psycopg.connect(server, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        where = conninfo_to_dict(server)
        print(
            f"benchmark: cannot connect to {where.get('host', 'localhost')}:"
            f"{where.get('port', 5432)}: {str(exc).strip().splitlines()[0]}",
            file=sys.stderr,
        )
        return 2
    output = args.output or RESULTS / f"{args.scale}.json"
    results = run(
        args.scale,
        server,
        output,
        chart=not args.no_chart,
        keep_database=args.keep_database,
        data_scale=args.data_scale,
    )
    print(markdown(results))
    print(f"\nwritten: {output} ({results['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
