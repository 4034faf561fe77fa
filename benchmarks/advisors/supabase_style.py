"""Single-column HypoPG advice, re-implemented after Supabase's ``index_advisor`` extension.

    >>> advice = advise(conn, queries)  # doctest: +SKIP
    >>> advice.statements
    ('CREATE INDEX ON public.monitoring_alertrule USING btree (next_evaluation_at)', ...)

The algorithm as ``index_advisor`` (version 0.2) documents and implements it, for each query:

1. create a hypothetical single-column B-tree index (HypoPG) on every column of every ordinary
   table whose type is one of the common scalar types (integers, numeric, floats, boolean, text
   and character types, date, time, timestamp(tz), uuid) and which has no plain single-column
   index yet;
2. EXPLAIN the query (``plan_cache_mode = force_generic_plan``, as index_advisor does for its
   prepared statement);
3. propose the hypothetical indexes the plan uses; reset.

The union over the workload is applied. Differences: index_advisor takes one query at a time
from the user; here it is given every statement of the workload, with its values.
"""

from __future__ import annotations

import json
import time

import psycopg

from benchmarks.advisors import Advice, did_not_run
from benchmarks.workload import WorkloadQuery

NAME = "supabase-style (HypoPG, single column)"

# index_advisor's list of type oids: int8, bool, date, timestamptz, timestamp, float8, int4,
# int2, float4, time, uuid, numeric, text, char, bpchar, varchar.
TYPE_OIDS = (20, 16, 1082, 1184, 1114, 701, 23, 21, 700, 1083, 2950, 1700, 25, 18, 1042, 1043)

CANDIDATE_COLUMNS = """
WITH extension_objects AS (SELECT DISTINCT objid AS oid FROM pg_depend WHERE deptype = 'e')
SELECT format('CREATE INDEX ON %%I.%%I (%%I)', pc.relnamespace::regnamespace::text, pc.relname,
              pa.attname)
FROM pg_class pc
JOIN pg_attribute pa ON pa.attrelid = pc.oid
LEFT JOIN extension_objects eo ON eo.oid = pc.oid
LEFT JOIN pg_index pi ON pi.indrelid = pc.oid
     AND (SELECT array_agg(x) FROM unnest(pi.indkey) v(x)) = ARRAY[pa.attnum]
     AND pi.indexprs IS NULL AND pi.indpred IS NULL
WHERE pc.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'pg_toast', 'information_schema')
  AND eo.oid IS NULL
  AND pc.relkind IN ('r', 'm')
  AND pc.relpersistence = 'p'
  AND pa.attnum > 0 AND NOT pa.attisdropped
  AND pi.indrelid IS NULL
  AND pa.atttypid = ANY(%s)
ORDER BY pc.relname, pa.attnum
"""


def advise(conn: psycopg.Connection, queries: list[WorkloadQuery]) -> Advice:
    """Union of the single-column hypothetical indexes the plans of the workload use."""
    conn.autocommit = True
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    except psycopg.Error as exc:
        return did_not_run(NAME, f"CREATE EXTENSION hypopg failed: {exc}")
    conn.autocommit = False
    started = time.perf_counter()
    proposed: dict[str, None] = {}
    per_query: dict[str, list[str]] = {}
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for query in queries:
            # Like index_advisor: the candidates are re-read and re-created for every query.
            columns = [r[0] for r in conn.execute(CANDIDATE_COLUMNS, [list(TYPE_OIDS)])]
            for ddl in columns:
                conn.execute("SELECT hypopg_create_index(%s)", [ddl])
            plan = conn.execute("EXPLAIN (FORMAT JSON) " + query.sql).fetchone()[0]
            plan_text = json.dumps(plan)
            used = [
                definition
                for name, definition in conn.execute(
                    "SELECT indexname, hypopg_get_indexdef(indexrelid) FROM hypopg() "
                    "ORDER BY indrelid, indkey::text"
                )
                if name in plan_text
            ]
            per_query[query.name] = used
            proposed.update(dict.fromkeys(used))
            conn.execute("SELECT hypopg_reset()")
    advise_seconds = time.perf_counter() - started
    return Advice(
        advisor=NAME,
        statements=tuple(proposed),
        advise_seconds=advise_seconds,
        details={"per_query": per_query},
    )
