"""What a proposal is worth: how often and from where its queries run, and on what table.

A proposal is ``"strong"`` unless the evidence says it matters little: every query it serves
runs only from management commands or scripts (by hand or cron, not on a request), a measured
workload ran each of its queries only once or twice, its table is a small lookup table, its queries
are only known from a QuerySet method's own ``self.…`` chain (the caller's filters unseen), or
existing indexes already seek on part of each of its queries and it only narrows the seek. The
reasons say which call sites, how many runs, whether a request path reaches it, and what kind
of table it is.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.schema import IndexElement
>>> from idxadvisor.types.workload import Origin, Query
>>> c = IndexCandidate("log", (IndexElement("org"),), serves=("q1",))
>>> q = Query("q1", "", "", "static", origins=(Origin("shop/views.py", 4),))
>>> value(c, {"q1": q}, None)[0]
'strong'
>>> q = Query("q1", "", "", "static", origins=(Origin("shop/management/commands/x.py", 4),))
>>> strength, why = value(c, {"q1": q}, None)
>>> strength, why[-1]
('possible', 'Only management commands or scripts run it, not a request.')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from idxadvisor.advisor.statistics import is_date
from idxadvisor.types.access import AccessPattern
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Table
from idxadvisor.types.workload import Query, sites

STRONG = "strong"
POSSIBLE = "possible"
# Below this many rows (live estimate) a table is a lookup table: a scan of it is cheap.
LOOKUP_TABLE_ROWS = 10_000
MAX_SITES_SHOWN = 3
# Fewer runs than this, all measured (a capture, pg_stat_statements, timed .sql), are weak.
MIN_MEASURED_RUNS = 3


def value(
    candidate: IndexCandidate,
    queries: Mapping[str, Query],
    table: Table | None,
    *,
    table_updated: bool = False,
    sought_already: str | None = None,
) -> tuple[str, tuple[str, ...]]:
    """The strength (``"strong"`` / ``"possible"``) and the reasons for it (``table_updated``:
    the workload updates rows of the candidate's table; ``sought_already``: why existing
    indexes already seek on part of each of its queries)."""
    served = [queries[q] for q in candidate.serves if q in queries]
    # One place is one call site however it was found (the static scan gives a column, the
    # capture none): counted and listed once.
    origins = list({str(o): o for q in served for o in q.origins}.values())
    reasons: list[str] = []
    weak = False
    code = [o for o in origins if not o.in_workload_file]
    if code:
        n = len(code)
        listed = sites(code, n, MAX_SITES_SHOWN)
        reasons.append(f"{n:,} call site{'s' if n != 1 else ''} ({listed}).")
    logged = [o for o in origins if o.in_workload_file]
    if logged:
        # Only a workload file's lines are capped (workload.MAX_FILE_ORIGINS): the rest counted.
        n = len(logged) + sum(q.origins_left_out for q in served)
        listed = sites(logged, n, MAX_SITES_SHOWN)
        reasons.append(f"{n:,} statement{'s' if n != 1 else ''} in the workload ({listed}).")
    measured = [q for q in served if q.measured]
    if measured:
        runs = sum(q.calls for q in measured)
        # The evidence is how often one query ran, not the sum of different statements: one
        # admin page view runs its listing, its count and its date drill-down once each, all
        # with the same filter.
        most = max(q.calls for q in measured)
        ran = f"Ran {runs:,} time{'s' if runs != 1 else ''} in the measured workload"
        if len(measured) > 1 and most < runs:
            ran += f" ({len(measured)} statements; the most frequent ran {most:,})"
        reasons.append(ran + ".")
        # A statically found query whose call sites the measured run also saw (its literals
        # differ from the captured text, so it is another query) is measured there too.
        seen = {str(o) for q in measured for o in q.origins}
        unmeasured = [
            q
            for q in served
            if not q.measured and not (q.origins and {str(o) for o in q.origins} <= seen)
        ]
        if not unmeasured and most < MIN_MEASURED_RUNS:
            weak = True
            reasons.append(
                "So few runs are little evidence that it matters (a click or a one-off in "
                "the measured run)."
            )
    partial_view = [o for o in origins if o.on_callers_queryset]
    if partial_view and len(partial_view) == len(origins):
        weak = True
        methods = ", ".join(dict.fromkeys(f"{o.function}()" for o in partial_view if o.function))
        reasons.append(
            f"Its queries run in a QuerySet method ({methods or 'on self'}) on the queryset "
            "its caller built: the caller's filters come on top of those seen here, so this "
            "index may not be the one those queries need."
        )
    elif candidate.sort_only:
        weak = True
        reasons.append(
            "Its queries filter nothing of this table: they sort all its rows (an admin "
            "column sort, an unfiltered listing, or a join filtered on another table, whose "
            "own index finds the few rows to sort instead). Worth it only if the table is "
            "large and that listing is used often."
        )
    if sought_already:
        weak = True
        reasons.append(sought_already)
    if any(o.is_request_path for o in origins):
        reasons.append("A request path reaches it (views, admin, API, handlers).")
    elif origins and all(o.is_command or o.is_test for o in origins):
        weak = True
        reasons.append("Only management commands or scripts run it, not a request.")
    if table is not None:
        if table.rows is not None and table.rows < LOOKUP_TABLE_ROWS:
            weak = True
            reasons.append(f"{table.name} is a small lookup table (about {table.rows:,} rows).")
        elif (stamp := _append_only(table, table_updated)) is not None:
            reasons.append(
                f"{table.name} looks append-only (rows stamped on insert by {stamp}, no "
                "column set later, no update seen): a log or events table keeps growing, "
                "so a scan only gets slower."
            )
    return (POSSIBLE if weak else STRONG), tuple(reasons)


def _append_only(table: Table, table_updated: bool) -> str | None:
    """The insert timestamp of a table that looks like a log: rows stamped on insert, and
    nothing that records a later change (an ``auto_now`` column, a nullable date set later
    such as ``delivered_at``, an UPDATE in the workload). A profile, a device or a task row
    has an insert timestamp too; it is a record kept and changed, not a log growing by itself."""
    stamps = [c.name for c in table.columns if c.insert_timestamp]
    if not stamps or table_updated:
        return None
    changed_later = any(
        c.update_timestamp or (c.null and is_date(c.db_type) and not c.insert_timestamp)
        for c in table.columns
    )
    return None if changed_later else stamps[0]


def updated_columns(
    patterns: Sequence[AccessPattern],
    queries: Mapping[str, Query],
    tables: Mapping[str, Table] | None = None,
    *,
    saved: bool = False,
) -> dict[tuple[str, str], float]:
    """How often the workload updates each ``(table, column)``: the summed weight of the
    UPDATEs setting it (their runs when captured, else their call sites).

    A whole-row save (``Model.save()`` without ``update_fields``: every column but the primary
    key assigned, ``tables`` telling which those are) writes each column whether or not its
    value changed, and PostgreSQL keeps an UPDATE HOT while no indexed value changes: it counts
    only for the columns it computes from the row (``n = n + 1``), which do change. With
    ``saved``, the other columns such saves write instead: they may or may not change.

    >>> from idxadvisor.types.access import AccessPattern
    >>> p = AccessPattern("q1", "t", "update", assigned=("status",))
    >>> updated_columns([p], {})
    {('t', 'status'): 1.0}
    """
    found: dict[tuple[str, str], float] = {}
    for p in patterns:
        if p.kind != "update":
            continue
        q = queries.get(p.query_id)
        weight = float(q.calls) if q is not None else 1.0
        table = (tables or {}).get(p.table)
        whole = table is not None and _whole_row(p, table)
        if saved:
            columns: Sequence[str] = [c for c in p.assigned if c not in p.computed] if whole else ()
        else:
            columns = p.computed if whole else p.assigned
        for column in columns:
            found[(p.table, column)] = found.get((p.table, column), 0.0) + weight
    return found


def _whole_row(pattern: AccessPattern, table: Table) -> bool:
    others = {c.name for c in table.columns if not c.primary_key}
    return len(others) > 1 and others <= set(pattern.assigned)
