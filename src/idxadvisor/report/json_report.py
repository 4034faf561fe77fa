"""The analysis as JSON: a documented, stable schema (``version`` 1).

Additions keep the version; a removal or a change of meaning bumps it. Top level::

    {
      "version": 1,
      "summary": {"statements": int,       # found, before deduplication (incl. skipped)
                  "analysed": int,         # distinct queries read into access patterns
                  "skipped": int,          # items in "skipped"
                  "files_unparsed": int,   # items in "skipped" of kind "file"
                  "recommendations": int,
                  "nothing_to_analyse": str or null,  # why nothing was analysed, e.g.
                                           # "nothing to analyse: no statements found (…)";
                                           # null when some query was analysed
                  "whatif_calls": int or null},  # EXPLAINs sent for HypoPG costs (live)
      "queries": [{"id", "sql", "origin" ("path:line" or null), "origins" [..],
                   "origins_left_out" (a workload file's lines beyond the first 100 of the
                   query: counted, not listed), "tables" [..],
                   "source", "calls", "total_time_ms", "served_by" (existing index, or
                   null: also when a proposal serves another table the statement reads),
                   "served_reason" (why, when not plain: a PostgreSQL 18 skip scan; or null),
                   "recommended" [names], "cost_before", "cost_after", "index_used" (the
                   index the planner picks with the recommendations; null without HypoPG)}],
      "recommendations": [{"app_label", "model", "table", "name",
                   "fields" (Django style, "-" for DESC), "expressions",
                   "condition" (SQL or null), "include", "method", "unique",
                   "sql" (complete CREATE INDEX CONCURRENTLY …;),
                   "extensions" (to create first, e.g. ["pg_trgm"] for a trigram index),
                   "django" (models.Index(...) source; column names when no model owns the table,
                   "" when Django cannot express the index),
                   "serves" [query ids], "reason", "cost", "redundant" [existing index names],
                   "estimated_size_bytes", "benefit",
                   "strength" ("strong": worth building; "possible": commands only, a small
                   lookup table…), "value" [why it is worth it: call sites, runs, request
                   path, kind of table]}],
      "existing": [{"table", "name", "columns", "unique", "condition", "include", "method",
                    "origin", "model", "valid", "declared"}],
      "redundant": [{"table", "name", "covered_by", "reason", "removable" (live statistics show
                    nothing needs it that covered_by cannot do; the reason says why or why not)}],
      "rejected": [{"table", "columns", "serves", "reason"}],
      "skipped": [{"origin" or "sql", "reason",
                   "kind" ("query": one statement or queryset; "file": a whole source or
                           workload file that could not be read or parsed)}],
      "notes": [str]
    }
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from idxadvisor.types.analysis import Analysis
from idxadvisor.types.workload import Skipped

SCHEMA_VERSION = 1


def to_json(analysis: Analysis) -> dict[str, Any]:
    advice = analysis.advice
    tables: dict[str, list[str]] = {}
    for p in analysis.patterns:
        tables.setdefault(p.query_id, [])
        if p.table not in tables[p.query_id]:
            tables[p.query_id].append(p.table)
    served = {s.query_id: s.index for s in advice.served_queries}
    served_why = {s.query_id: s.reason for s in advice.served_queries if s.reason}
    recommended: dict[str, list[str]] = {}
    for r in advice.recommendations:
        for query_id in r.serves:
            recommended.setdefault(query_id, []).append(r.name)
    skipped = analysis.skipped
    queries = []
    for q in analysis.workload.queries:
        cost = advice.costs.get(q.id)
        queries.append(
            {
                "id": q.id,
                "sql": q.sql,
                "origin": str(q.origins[0]) if q.origins else None,
                "origins": [str(o) for o in q.origins],
                "origins_left_out": q.origins_left_out,
                "tables": tables.get(q.id, []),
                "source": q.source,
                "calls": q.calls,
                "total_time_ms": round(q.total_time_ms, 3),
                "served_by": served.get(q.id),
                "served_reason": served_why.get(q.id),
                "recommended": recommended.get(q.id, []),
                "cost_before": cost.cost_before if cost else None,
                "cost_after": cost.cost_after if cost else None,
                "index_used": cost.index_used if cost else None,
            }
        )
    return {
        "version": SCHEMA_VERSION,
        "summary": {
            "statements": analysis.statements,
            "analysed": len({p.query_id for p in analysis.patterns}),
            "skipped": len(skipped),
            "files_unparsed": len(unparsed_files(skipped)),
            "recommendations": len(advice.recommendations),
            "nothing_to_analyse": nothing_to_analyse(analysis),
            "whatif_calls": advice.whatif_calls,
        },
        "queries": queries,
        "recommendations": [
            {
                "app_label": r.app_label,
                "model": r.model,
                "table": r.table,
                "name": r.name,
                "fields": list(r.fields),
                "expressions": list(r.expressions),
                "condition": r.candidate.condition_sql,
                "include": list(r.candidate.include),
                "method": r.candidate.method,
                "unique": r.candidate.unique,
                "sql": r.sql,
                "extensions": list(r.extensions),
                "django": r.django,
                "serves": list(r.serves),
                "reason": r.reason,
                "cost": r.cost,
                "redundant": list(r.redundant),
                "estimated_size_bytes": r.estimated_size_bytes,
                "benefit": r.benefit,
                "strength": r.strength,
                "value": list(r.value),
            }
            for r in advice.recommendations
        ],
        "existing": [
            {
                "table": i.table,
                "name": i.name,
                "columns": list(i.columns),
                "unique": i.unique,
                "condition": i.condition,
                "include": list(i.include),
                "method": i.method,
                "origin": i.origin,
                "model": i.model,
                "valid": i.valid,
                "declared": i.declared,
            }
            for i in analysis.schema.indexes
        ],
        "redundant": [
            {
                "table": x.index.table,
                "name": x.index.name,
                "covered_by": x.covered_by,
                "reason": x.reason,
                "removable": x.removable,
            }
            for x in advice.redundant
        ],
        "rejected": [
            {
                "table": x.candidate.table,
                "columns": list(x.candidate.keys),
                "serves": list(x.candidate.serves),
                "reason": x.reason,
            }
            for x in advice.rejected
        ],
        "skipped": [_skipped(s) for s in skipped],
        "notes": list(advice.notes),
    }


def _skipped(s: Skipped) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if s.origin is not None:
        out["origin"] = str(s.origin)
    if s.sql is not None:
        out["sql"] = s.sql
    out["reason"] = s.reason
    out["kind"] = s.kind
    return out


def unparsed_files(skipped: Iterable[Skipped]) -> tuple[Skipped, ...]:
    """The skipped items that are whole files (a syntax error, undecodable bytes)."""
    return tuple(s for s in skipped if s.kind == "file")


def nothing_to_analyse(analysis: Analysis) -> str | None:
    """Why a run analysed no query at all, naming what it looked at; None when it analysed some.

    The reports say this instead of "every analysed query is served", which would be true of
    nothing and read as a clean bill of health.
    """
    if analysis.patterns:
        return None
    skipped = analysis.skipped
    files = len(unparsed_files(skipped))
    statements = len(skipped) - files
    where = looked_at(analysis)
    if not analysis.workload.queries and not skipped:
        return f"nothing to analyse: no statements found ({where})"
    parts = []
    if files:
        parts.append(f"{files} file{'s' if files != 1 else ''} could not be parsed")
    if statements:
        parts.append(f"{statements} statement{'s' if statements != 1 else ''} skipped")
    if not parts:
        found = len(analysis.workload.queries)
        parts.append(f"{found} statement{'s' if found != 1 else ''} found, none reads a table")
    return f"nothing analysed: {', '.join(parts)} ({where})"


def looked_at(analysis: Analysis) -> str:
    """What the run read, in words: the project's source, workload files, pg_stat_statements."""
    request = analysis.request
    places: list[str] = []
    if request.static and analysis.root is not None:
        if request.paths is not None:
            n = len(request.paths)
            places.append(f"{n} Python file{'s' if n != 1 else ''} of the project {analysis.root}")
        else:
            places.append(f"the Python files of the project {analysis.root}")
    if request.workload_files:
        names = ", ".join(str(w) for w in request.workload_files)
        places.append(f"workload file{'s' if len(request.workload_files) != 1 else ''} {names}")
    if request.from_pg_stat_statements:
        places.append("pg_stat_statements")
    return "looked at " + "; ".join(places) if places else "no project source or workload given"


def dumps(analysis: Analysis) -> str:
    return json.dumps(to_json(analysis), indent=2) + "\n"


def is_json_report(text: str) -> bool:
    """Whether a file's content is a report this module wrote (safe to overwrite)."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(data, dict)
        and data.get("version") == SCHEMA_VERSION
        and ("recommendations" in data and "summary" in data)
    )
