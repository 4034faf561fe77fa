"""value: each proposal's strength and why; where a query comes from matters.

Mirrors ``idxadvisor.advisor.value`` and the test-origin rule (``Origin.is_test``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from idxadvisor.advisor import advise
from idxadvisor.patterns.extractor import extract
from idxadvisor.pipeline import _without_test_queries
from idxadvisor.types.schema import Column, ExistingIndex, IndexElement, Schema, Table
from idxadvisor.types.workload import Origin, Query, Workload

SQL = "SELECT * FROM shop_order WHERE customer = $1 ORDER BY placed DESC LIMIT 20"
UPDATE = "UPDATE shop_order SET status = $1 WHERE id = $2"


def _table(rows: int | None = None) -> Table:
    return Table(
        "shop_order",
        (
            Column("id", "id", "bigint", unique=True, primary_key=True),
            Column("customer", "", "integer"),
            Column("status", "", "varchar(16)"),
            Column("placed", "", "timestamptz", insert_timestamp=True),
        ),
        rows=rows,
    )


def _run(*queries: Query, rows: int | None = None):
    patterns = tuple(p for q in queries for p in extract(q))
    pk = ExistingIndex(
        "shop_order", "shop_order_pkey", (IndexElement("id"),), "primary key", unique=True
    )
    return advise(
        patterns, Schema({"shop_order": _table(rows)}, (pk,)), queries={q.id: q for q in queries}
    )


@pytest.mark.parametrize(
    ("paths", "strength"),
    [
        (("shop/views.py",), "strong"),
        (("shop/admin.py", "shop/management/commands/report.py"), "strong"),
        (("shop/management/commands/report.py",), "possible"),
        (("scripts/nightly.py",), "possible"),
    ],
)
def test_strength_follows_where_the_queries_run(paths, strength):
    q = Query("q1", SQL, SQL, "static", origins=tuple(Origin(p, 3) for p in paths))
    [rec] = _run(q).recommendations
    assert rec.strength == strength
    assert rec.value[0].startswith(f"{len(paths)} call site")
    assert any("keeps growing" in v for v in rec.value)  # an insert-stamped table, not updated


@pytest.mark.parametrize("path", ["seed.py", "shop/views.py"])
def test_a_files_top_level_code_is_a_script_not_a_request(path):
    # A capture of `python seed.py`: its queries run at the file's top level ("<module>"),
    # which no request runs, wherever the file lies (found on django-defender: a driver at the
    # project root lifted an index to strong as if a view ran it).
    q = Query("q1", SQL, SQL, "static", origins=(Origin(path, 3, function="<module>"),))
    [rec] = _run(q).recommendations
    assert rec.strength == "possible"
    assert "Only management commands or scripts run it, not a request." in rec.value
    assert not any("request path reaches it" in v for v in rec.value)


@pytest.mark.parametrize(
    "later",
    [
        Column("delivered_at", "", "timestamp with time zone", null=True),  # set later
        Column("updated_at", "", "timestamp with time zone", update_timestamp=True),  # auto_now
    ],
)
def test_a_table_whose_rows_change_is_not_called_a_log(later):
    # An insert timestamp alone is how a log looks, and how a profile, a device or a task
    # looks too: a column set later, or an UPDATE in the workload, makes it a record.
    read = Query("q1", SQL, SQL, "static", origins=(Origin("shop/views.py", 3),))
    [alone] = _run(read).recommendations
    assert any("append-only (rows stamped on insert by placed" in v for v in alone.value)
    update = Query("q2", UPDATE, UPDATE, "static", origins=(Origin("shop/views.py", 9),))
    [updated] = _run(read, update).recommendations
    table = _table()
    changing = replace(table, columns=(*table.columns, later))
    pk = ExistingIndex(
        "shop_order", "shop_order_pkey", (IndexElement("id"),), "primary key", unique=True
    )
    [record] = advise(
        tuple(extract(read)), Schema({"shop_order": changing}, (pk,)), queries={"q1": read}
    ).recommendations
    for rec in (updated, record):
        assert not any("log" in v or "append-only" in v for v in rec.value), rec.value
        assert rec.strength == alone.strength == "strong"


def test_a_small_lookup_table_is_only_possible_and_measured_runs_are_counted():
    q = Query("q1", SQL, SQL, "capture", origins=(Origin("shop/views.py", 3),), calls=250)
    [rec] = _run(q, rows=5_000).recommendations
    assert rec.strength == "possible"
    assert "Ran 250 times in the measured workload." in rec.value
    assert any("small lookup table" in v for v in rec.value)


@pytest.mark.parametrize(("calls", "strength"), [(1, "possible"), (2, "possible"), (3, "strong")])
def test_a_measured_query_that_ran_once_or_twice_is_only_possible(calls, strength):
    q = Query("q1", SQL, SQL, "capture", origins=(Origin("shop/views.py", 3),), calls=calls)
    [rec] = _run(q).recommendations
    assert rec.strength == strength
    assert any("little evidence" in v for v in rec.value) == (strength == "possible")


def test_a_statically_found_query_is_not_weakened_by_run_counts():
    static = Query("q1", SQL, SQL, "static", origins=(Origin("shop/views.py", 3),))
    captured = Query("q2", SQL + " ", SQL + " ", "capture", calls=1)
    [rec] = _run(static, captured).recommendations
    assert rec.strength == "strong"


def test_a_key_the_workload_updates_says_so_in_the_cost():
    read = Query(
        "q1",
        "SELECT * FROM shop_order WHERE status = $1 AND customer = $2",
        "a",
        "capture",
        calls=10,
    )
    write = Query("q2", UPDATE, "b", "capture", calls=500)
    [rec] = _run(read, write).recommendations
    assert "The workload updates status (500 runs or call sites)" in rec.cost
    assert "HOT update" in rec.cost
    [rec] = _run(read).recommendations
    assert "HOT" not in rec.cost


def test_a_column_the_workload_updates_is_not_included():
    read = Query(
        "q1", "SELECT customer, status FROM shop_order WHERE customer = $1", "a", "capture"
    )
    assert _run(read).recommendations[0].candidate.include == ("status",)
    write = Query("q2", UPDATE, "b", "capture")
    [rec] = _run(read, write).recommendations
    assert rec.candidate.include == ()
    assert any("Not INCLUDE (status)" in r for r in rec.candidate.reasons)


@pytest.mark.parametrize(
    "path",
    [
        "shop/tests/test_views.py",
        "shop/factories.py",
        "conftest.py",
        "shop/migrations/0003_fill.py",
        "shop/order_tests.py",
        "shop/fixtures/load.py",
    ],
)
def test_queries_only_from_tests_are_listed_but_drive_no_proposal(path):
    from_tests = Query("q1", SQL, SQL, "static", origins=(Origin(path, 3),))
    both = Query(
        "q2",
        "SELECT * FROM shop_order WHERE status = $1",
        "b",
        "static",
        origins=(Origin(path, 9), Origin("shop/views.py", 4)),
    )
    workload = Workload((from_tests, both))
    patterns = tuple(p for q in workload.queries for p in extract(q))
    kept, skipped = _without_test_queries(patterns, workload)
    assert {p.query_id for p in kept} == {"q2"}
    assert [(s.origin, s.sql) for s in skipped] == [(Origin(path, 3), SQL)]
    assert "--include-test-queries" in skipped[0].reason


def test_a_trailing_primary_key_tie_breaker_is_no_index_key() -> None:
    # Django's admin sorts by the clicked column, then -pk: one index on the column serves both
    # directions (incremental sort orders the ties), not one index per direction with the pk.
    from idxadvisor.advisor import advise
    from idxadvisor.patterns import extract
    from idxadvisor.types.schema import Column, ExistingIndex, IndexElement, Schema, Table
    from idxadvisor.types.workload import Query

    table = Table(
        "job",
        (
            Column("id", "id", "bigint"),
            Column("done", "done", "timestamptz"),
            Column("state", "state", "varchar(16)"),
        ),
    )
    pk = ExistingIndex("job", "job_pkey", (IndexElement("id"),), "primary key", unique=True)
    sqls = [
        "SELECT * FROM job WHERE state = $1 ORDER BY done DESC, id DESC LIMIT 100",
        "SELECT * FROM job WHERE state = $1 ORDER BY done ASC, id DESC LIMIT 100",
    ]
    patterns = [p for i, sql in enumerate(sqls) for p in extract(Query(f"q{i}", sql, sql, "sql"))]
    [rec] = advise(patterns, Schema({"job": table}, (pk,))).recommendations
    assert [e.key for e in rec.candidate.elements] == ["state", "done"]
    assert set(rec.serves) == {"q0", "q1"}


def test_a_sort_of_the_whole_table_is_only_a_possible_proposal() -> None:
    from idxadvisor.advisor import advise
    from idxadvisor.patterns import extract
    from idxadvisor.types.schema import Column, ExistingIndex, IndexElement, Schema, Table
    from idxadvisor.types.workload import Origin, Query

    table = Table("job", (Column("id", "id", "bigint"), Column("path", "path", "varchar(200)")))
    pk = ExistingIndex("job", "job_pkey", (IndexElement("id"),), "primary key", unique=True)
    sql = "SELECT * FROM job ORDER BY path ASC, id DESC LIMIT 100"
    query = Query("q", sql, sql, "capture", origins=(Origin("shop/admin.py", 9),))
    [rec] = advise(
        extract(query), Schema({"job": table}, (pk,)), queries={"q": query}
    ).recommendations
    assert rec.strength == "possible"
    assert any("sort all its rows" in v for v in rec.value)


def test_a_sql_workload_with_measured_times_counts_as_measured():
    # A .sql export of pg_stat_statements: "-- idxadvisor: calls=1 total_ms=0.2" is a count.
    timed = Query("q1", SQL, SQL, "sql", calls=1, total_time_ms=0.2)
    [rec] = _run(timed).recommendations
    assert rec.strength == "possible"
    assert "Ran 1 time in the measured workload." in rec.value
    untimed = Query("q1", SQL, SQL, "sql")  # a hand-written .sql file: nothing was counted
    [rec] = _run(untimed).recommendations
    assert rec.strength == "strong"


def test_several_statements_that_each_ran_once_are_still_a_one_off():
    # One admin page view with a filter runs its listing, its count and its date drill-down
    # once each: three statements, three runs, one click.
    sqls = [
        SQL,
        "SELECT COUNT(*) FROM shop_order WHERE customer = $1",
        "SELECT MIN(placed), MAX(placed) FROM shop_order WHERE customer = $1",
    ]
    once = [
        Query(f"q{i}", s, s, "capture", origins=(Origin("shop/admin.py", 9),), calls=1)
        for i, s in enumerate(sqls)
    ]
    [rec] = _run(*once).recommendations
    assert rec.strength == "possible"
    assert "Ran 3 times in the measured workload (3 statements; the most frequent ran 1)." in (
        rec.value
    )
    assert any("little evidence" in v for v in rec.value)
    often = [replace(once[0], calls=40), *once[1:]]
    [rec] = _run(*often).recommendations
    assert rec.strength == "strong"
    assert "Ran 42 times in the measured workload (3 statements; the most frequent ran 40)." in (
        rec.value
    )


def test_lines_of_a_sql_workload_are_statements_not_call_sites(tmp_path):
    # A .sql export's lines are where statements were logged, not code that runs them.
    from idxadvisor.pipeline import read_workload
    from idxadvisor.workload import build_workload

    path = tmp_path / "capture.sql"
    path.write_text(
        "-- idxadvisor: calls=4 total_ms=1.0\n"
        "SELECT * FROM shop_order WHERE customer = 7 ORDER BY placed DESC LIMIT 20;\n"
        "-- idxadvisor: calls=4 total_ms=1.0\n"
        "SELECT COUNT(*) FROM shop_order WHERE customer = 7;\n"
    )
    statements, skipped = read_workload(path)
    assert not skipped
    workload = build_workload(statements)
    [rec] = _run(*workload.queries).recommendations
    assert not any("call site" in v for v in rec.value), rec.value
    [said] = [v for v in rec.value if v.startswith("2 statements in the workload (")]
    assert "capture.sql:2" in said and "capture.sql:4" in said


def test_a_whole_row_save_makes_only_the_columns_it_computes_hot():
    # Model.save() without update_fields writes every column, changed or not; PostgreSQL keeps
    # the UPDATE HOT while no indexed value changes, so only the columns it computes from the
    # row (status = status + 1) are known to change; the others may. An explicit
    # .update(customer=...) counts for every column it sets.
    columns = [c.name for c in _table().columns if not c.primary_key]
    sets = ", ".join(f"{c} = {c} + 1" if c == "status" else f"{c} = $9" for c in columns)
    lookup = "SELECT * FROM shop_order WHERE customer = $1 AND status = $2"
    read = Query("q1", lookup, "a", "capture", calls=10)
    saved = Query("q2", f"UPDATE shop_order SET {sets} WHERE id = $1", "b", "capture", calls=500)
    [rec] = _run(read, saved).recommendations
    known, maybe = rec.cost.split("The workload also saves whole rows")
    assert "The workload updates status (500 runs or call sites)" in known
    assert "customer" not in known
    assert "(500 runs; save() without update_fields), writing customer whether" in maybe
    assert not any("append-only" in v for v in rec.value)
    explicit = Query("q3", "UPDATE shop_order SET customer = $1 WHERE id = $2", "c", "capture")
    [rec] = _run(read, explicit).recommendations
    assert "The workload updates customer" in rec.cost
    assert "whole rows" not in rec.cost


def test_a_static_query_at_a_call_site_the_capture_saw_once_is_a_one_off_too():
    # Found on django-post-office: the static scan's `LIKE 'Queued 1%'` and the capture's
    # `LIKE 'x%'` (a shape, not the value) are two queries of one call site; the capture ran it
    # once. It was "2 call sites (w.py:31, w.py:31)" and strong.
    static_sql = "SELECT * FROM shop_order WHERE customer = 7 ORDER BY placed DESC LIMIT 20"
    static = Query("q1", static_sql, "a", "static", origins=(Origin("shop/views.py", 31, 5),))
    captured = Query("q2", SQL, "b", "capture", origins=(Origin("shop/views.py", 31),), calls=1)
    [rec] = _run(static, captured).recommendations
    assert set(rec.serves) == {"q1", "q2"}
    assert rec.value[0] == "1 call site (shop/views.py:31)."
    assert rec.strength == "possible"
    elsewhere = Query("q1", static_sql, "a", "static", origins=(Origin("shop/api.py", 8, 5),))
    [rec] = _run(elsewhere, captured).recommendations
    assert rec.strength == "strong"  # a call site the capture never ran: no count says little


def test_a_table_whose_rows_are_deleted_by_key_is_not_called_a_log():
    # Found on django-activity-stream: unfollow() deletes chosen Follow rows, and the report
    # still said "looks append-only ... no update seen". Pruning by age keeps a log a log.
    read = Query("q1", SQL, SQL, "static", origins=(Origin("shop/views.py", 3),))
    by_key = "DELETE FROM shop_order WHERE customer = $1 AND status = $2"
    by_age = "DELETE FROM shop_order WHERE placed < $1"
    for delete, log in ((by_key, False), (by_age, True)):
        gone = Query("q2", delete, "d", "static", origins=(Origin("shop/views.py", 9),))
        recs = _run(read, gone).recommendations
        assert recs
        for rec in recs:
            assert any("append-only" in v for v in rec.value) == log, (delete, rec.value)
