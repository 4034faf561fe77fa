"""The analysis as JSON: a documented, stable schema (``version`` 1).

Additions keep the version; a removal or a change of meaning bumps it. Top level::

    {
      "version": 1,
      "summary": {"statements": int,       # found, before deduplication (incl. skipped)
                  "analysed": int,         # distinct queries read into access patterns
                  "skipped": int,          # items in "skipped"
                  "recommendations": int},
      "queries": [{"id", "sql", "origin" ("path:line" or null), "origins" [..], "tables" [..],
                   "source", "calls", "total_time_ms", "served_by" (existing index or null),
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
                   "estimated_size_bytes", "benefit"}],
      "existing": [{"table", "name", "columns", "unique", "condition", "include", "method",
                    "origin", "model", "valid", "declared"}],
      "redundant": [{"table", "name", "covered_by", "reason"}],
      "rejected": [{"table", "columns", "serves", "reason"}],
      "skipped": [{"origin" or "sql", "reason"}],
      "notes": [str]
    }
"""

from __future__ import annotations

import json
from typing import Any

from idxadvisor.pipeline import Analysis
from idxadvisor.workload import Skipped

SCHEMA_VERSION = 1


def to_json(analysis: Analysis) -> dict[str, Any]:
    advice = analysis.advice
    tables: dict[str, list[str]] = {}
    for p in analysis.patterns:
        tables.setdefault(p.query_id, [])
        if p.table not in tables[p.query_id]:
            tables[p.query_id].append(p.table)
    served = {s.query_id: s.index for s in advice.served}
    recommended: dict[str, list[str]] = {}
    for r in advice.recommendations:
        for q in r.serves:
            recommended.setdefault(q, []).append(r.name)
    skipped = analysis.skipped
    queries = []
    for q in analysis.workload.queries:
        cost = advice.costs.get(q.id)
        queries.append({
            "id": q.id,
            "sql": q.sql,
            "origin": str(q.origins[0]) if q.origins else None,
            "origins": [str(o) for o in q.origins],
            "tables": tables.get(q.id, []),
            "source": q.source,
            "calls": q.calls,
            "total_time_ms": round(q.total_time_ms, 3),
            "served_by": served.get(q.id),
            "recommended": recommended.get(q.id, []),
            "cost_before": cost.cost_before if cost else None,
            "cost_after": cost.cost_after if cost else None,
            "index_used": cost.index_used if cost else None,
        })
    return {
        "version": SCHEMA_VERSION,
        "summary": {
            "statements": analysis.statements,
            "analysed": len({p.query_id for p in analysis.patterns}),
            "skipped": len(skipped),
            "recommendations": len(advice.recommendations),
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
            {"table": x.index.table, "name": x.index.name, "covered_by": x.covered_by,
             "reason": x.reason}
            for x in advice.redundant
        ],
        "rejected": [
            {"table": x.candidate.table, "columns": list(x.candidate.keys),
             "serves": list(x.candidate.serves), "reason": x.reason}
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
    return out


def dumps(analysis: Analysis) -> str:
    return json.dumps(to_json(analysis), indent=2) + "\n"


def is_json_report(text: str) -> bool:
    """Whether a file's content is a report this module wrote (safe to overwrite)."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("version") == SCHEMA_VERSION and (
        "recommendations" in data and "summary" in data
    )
