"""Live mode at production size: what-if selection over a pg_stat_statements-like workload.

Creates a temporary database (dropped at the end) with 200 tables of realistic columns and
some thousand rows each, ANALYZEd, with HypoPG; writes a ``.sql`` workload of 5,000 distinct
statements of varied shapes (equality + ORDER BY + LIMIT, partial-friendly status filters,
ranges, joins, expression lookups, UPDATE/DELETE), each weighted with
``-- idxadvisor: calls=N total_ms=T`` as pg_stat_statements would; then runs
``idxadvisor analyze`` on it in live mode and prints the time to advise, the what-if EXPLAINs
sent and the proposals.

Command line::

    python -m benchmarks.live_selection --database-url postgresql://postgres@127.0.0.1/postgres
    python -m benchmarks.live_selection --tables 50 --statements 1000   # a quicker run

Target: at most 120 s on 2 cores for 5,000 statements over 200 tables.

The what-if EXPLAINs go to the server in psycopg pipeline mode, a few hundred to a
transaction (:class:`idxadvisor.live.whatif.WhatIf`); the count printed is the report's
``summary.whatif_calls``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

COLUMNS = """
    id bigserial PRIMARY KEY,
    account_id int NOT NULL,
    status varchar(20) NOT NULL,
    kind varchar(12) NOT NULL,
    email varchar(200) NOT NULL,
    amount numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
"""
FILL = """
INSERT INTO {t} (account_id, status, kind, email, amount, created_at, updated_at)
SELECT g % {accounts},
       CASE WHEN g % 40 = 0 THEN 'pending' WHEN g % 40 = 1 THEN 'failed' ELSE 'done' END,
       (ARRAY['order', 'refund', 'invoice', 'note'])[g % 4 + 1],
       'user' || g || '@example.com', (g % 1000) / 7.0,
       timestamptz '2024-01-01' + g * interval '1 minute',
       timestamptz '2024-01-01' + ((g * 7919) % {rows}) * interval '1 minute'
FROM generate_series(1, {rows}) g
"""
SELECT_LISTS = [
    "*",
    "id",
    "id, amount",
    "id, status",
    "id, created_at",
    "count(*)",
    "id, email",
    "id, account_id, amount",
    "sum(amount)",
    "max(created_at)",
]


def shapes(t: str, other: str, cols: str, rng: random.Random) -> list[str]:
    """Statement shapes on table ``t`` (``other``: a table it joins to)."""
    limit = rng.choice([10, 20, 50, 100])
    return [
        f"SELECT {cols} FROM {t} WHERE account_id = $1 ORDER BY created_at DESC LIMIT {limit}",
        f"SELECT {cols} FROM {t} WHERE status IN ('pending', 'failed') ORDER BY updated_at "
        f"LIMIT {limit}",
        f"SELECT {cols} FROM {t} WHERE created_at >= $1 AND created_at < $2",
        f"SELECT {cols} FROM {t} WHERE email = $1",
        f"SELECT {cols} FROM {t} WHERE account_id = $1 AND kind = $2",
        f"SELECT {cols} FROM {t} WHERE UPPER(email) = UPPER($1)",
        f"SELECT {cols} FROM {t} a JOIN {other} b ON b.account_id = a.account_id "
        f"WHERE a.status = $1 AND b.kind = $2 LIMIT {limit}".replace(
            f"SELECT {cols} FROM", "SELECT a.id FROM"
        ),
        f"UPDATE {t} SET status = 'done', updated_at = now() WHERE account_id = $1 "
        "AND status = 'pending'",
        f"DELETE FROM {t} WHERE created_at < $1 AND status = 'done'",
    ]


def build_database(url: str, tables: int, rng: random.Random) -> str:
    """A new database with the tables filled and analysed; returns its URL."""
    name = f"idxadv_bench_live_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    target = psycopg.conninfo.make_conninfo(url, dbname=name)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        for i in range(tables):
            t = f"app_t{i:03d}"
            rows = rng.choice([2_000, 5_000, 10_000, 20_000])
            conn.execute(f"CREATE TABLE {t} ({COLUMNS})")
            conn.execute(FILL.format(t=t, rows=rows, accounts=max(rows // 20, 10)))
        conn.execute("ANALYZE")
    return target


def write_workload(path: Path, tables: int, statements: int, rng: random.Random) -> int:
    seen: set[str] = set()
    lines: list[str] = []
    attempts = 0
    while len(seen) < statements and attempts < statements * 20:
        attempts += 1
        i = rng.randrange(tables)
        t, other = f"app_t{i:03d}", f"app_t{(i + 1) % tables:03d}"
        text = rng.choice(shapes(t, other, rng.choice(SELECT_LISTS), rng))
        if text in seen:
            continue
        seen.add(text)
        calls = int(rng.paretovariate(1.2) * 10)
        lines.append(f"-- idxadvisor: calls={calls} total_ms={calls * rng.uniform(0.2, 30):.1f}")
        lines.append(text + ";")
    path.write_text("\n".join(lines) + "\n")
    return len(seen)


def advise(url: str, workload: Path) -> tuple[float, dict[str, Any]]:
    """Run the analysis in-process (as ``idxadvisor analyze --workload``) and time it."""
    from idxadvisor.pipeline import run
    from idxadvisor.report.json_report import to_json
    from idxadvisor.types.analysis import AnalysisRequest

    request = AnalysisRequest(workload_files=(workload,), static=False, database_url=url)
    started = time.perf_counter()
    analysis = run(request)
    return time.perf_counter() - started, to_json(analysis)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="A server where a temporary database may be created.",
    )
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    started = time.perf_counter()
    target = build_database(args.database_url, args.tables, rng)
    name = psycopg.conninfo.conninfo_to_dict(target)["dbname"]
    try:
        print(f"setup: {args.tables} tables in {time.perf_counter() - started:.1f} s", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            workload = Path(tmp) / "pgss.sql"
            count = write_workload(workload, args.tables, args.statements, rng)
            elapsed, report = advise(target, workload)
        summary = report["summary"]
        recs = report["recommendations"]
        print(f"statements: {count} distinct over {args.tables} tables")
        print(f"time to advise: {elapsed:.1f} s")
        # Every EXPLAIN sent, pipelined or alone (WhatIf.calls), as the report shows it.
        print(f"what-if EXPLAINs: {summary.get('whatif_calls')}")
        print(f"analysed: {summary['analysed']}, skipped: {summary['skipped']}")
        print(
            f"proposals: {len(recs)}, rejected: {len(report['rejected'])}, "
            f"redundant: {len(report['redundant'])}"
        )
        sized = [r["estimated_size_bytes"] for r in recs if r["estimated_size_bytes"]]
        print(f"proposed index bytes: {sum(sized):,}")
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
