"""pg_qualstats' own index advisor, ``pg_qualstats_index_advisor()``.

    >>> advice = advise(conn, queries, min_filter=1000)  # doctest: +SKIP
    >>> advice.statements[0]
    'CREATE INDEX ON public.monitoring_webhookdelivery USING btree (status, next_retry_at)'

pg_qualstats samples the predicates (quals) of executed statements in shared memory. The
extension must be in ``shared_preload_libraries``; the advisor function then groups the quals
that filtered at least ``min_filter`` rows on average with at least ``min_selectivity`` percent
of rows removed, and proposes one multi-column index per group of quals used together. We run
the workload plainly (not under EXPLAIN) with sampling rate 1 so every statement is seen; quals
are kept per database and our database is fresh, so no reset is needed (a reset would clear
other databases' samples too).
"""

from __future__ import annotations

import json
import time

import psycopg

from benchmarks.advisors import Advice, did_not_run
from benchmarks.workload import WorkloadQuery, execute_plainly

NAME = "pg_qualstats"


def advise(
    conn: psycopg.Connection,
    queries: list[WorkloadQuery],
    *,
    min_filter: int = 1000,
    min_selectivity: int = 30,
    repeats: int = 3,
) -> Advice:
    """Sample the workload's quals, then ask ``pg_qualstats_index_advisor`` for indexes."""
    conn.autocommit = True
    try:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        if "pg_qualstats" not in preload:
            return did_not_run(NAME, "pg_qualstats is not in shared_preload_libraries")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_qualstats")
    except psycopg.Error as exc:
        return did_not_run(NAME, f"CREATE EXTENSION pg_qualstats failed: {exc}")
    conn.autocommit = False
    conn.execute("SET pg_qualstats.enabled = on")
    conn.execute("SET pg_qualstats.sample_rate = 1")
    conn.commit()
    started = time.perf_counter()
    execute_plainly(conn, queries, repeats=repeats)
    collect_seconds = time.perf_counter() - started
    started = time.perf_counter()
    raw = conn.execute(
        "SELECT pg_qualstats_index_advisor(min_filter => %s, min_selectivity => %s)",
        [min_filter, min_selectivity],
    ).fetchone()[0]
    advise_seconds = time.perf_counter() - started
    conn.execute("RESET pg_qualstats.sample_rate")
    conn.commit()
    result = raw if isinstance(raw, dict) else json.loads(raw)
    statements = tuple(dict.fromkeys(result.get("indexes") or ()))
    return Advice(
        advisor=NAME,
        statements=statements,
        advise_seconds=advise_seconds,
        details={
            "collect_seconds": round(collect_seconds, 3),
            "min_filter": min_filter,
            "min_selectivity": min_selectivity,
            "unoptimised": result.get("unoptimised") or [],
        },
    )
