"""`idxadvisor analyze` on the bundled example, with no database, and the proof on PostgreSQL.

The report must propose what a careful DBA would (the issue's list), nothing for lookups that
are already served, and every proposed index must really change the plan: on a database filled
with the example's skewed data, each query it serves moves from a sequential scan or an
explicit sort to a scan of that index.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
import sqlglot
from sqlglot import exp

from idxadvisor.schema.models import expression_key
from tests.helpers import (
    EXAMPLE,
    TempDatabase,
    create_database,
    drop_database,
    run_cli,
    run_python,
)

QUERIES = "monitoring/queries.py"


def _line_of(function: str) -> int:
    """The line where a function's queryset chain starts (the `.objects` line)."""
    lines = (EXAMPLE / QUERIES).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}("))
    offset = next(i for i, line in enumerate(lines[start:]) if ".objects" in line)
    return start + offset + 1


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    # No DATABASE_URL: the settings point at a database that need not exist.
    result = run_cli(
        "analyze",
        str(EXAMPLE),
        "--format",
        "json",
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _by_origin(report: dict[str, Any], function: str) -> dict[str, Any]:
    origin = f"{QUERIES}:{_line_of(function)}"
    matches = [q for q in report["queries"] if origin in q["origins"]]
    assert matches, f"no query found at {origin}"
    return matches[0]


def _recs_for(report: dict[str, Any], function: str) -> list[dict[str, Any]]:
    q = _by_origin(report, function)
    return [r for r in report["recommendations"] if q["id"] in r["serves"]]


def test_webhook_retry_gets_a_partial_index_in_retry_order(report):
    [rec] = _recs_for(report, "due_webhook_deliveries")
    assert rec["model"] == "WebhookDelivery"
    assert rec["fields"] == ["next_retry_at"]
    assert rec["condition"] == "status IN ('pending', 'failed')"
    assert "partial" in rec["reason"]
    assert rec["django"] == (
        f'models.Index(fields=["next_retry_at"], name="{rec["name"]}", '
        'condition=Q(status__in=["pending", "failed"]))'
    )


def test_due_alert_rules_get_a_partial_index(report):
    [rec] = _recs_for(report, "rules_due_for_evaluation")
    assert rec["fields"] == ["next_evaluation_at"]
    assert rec["condition"] == "is_active"
    assert "Q(is_active=True)" in rec["django"]


def test_case_insensitive_email_gets_an_upper_expression_index(report):
    [rec] = _recs_for(report, "profile_by_email")
    assert rec["expressions"] == ["UPPER(email)"]
    assert rec["django"].startswith('models.Index(Upper("email"), name=')
    assert '(UPPER("email"))' in rec["sql"]


def test_log_listing_gets_organisation_then_created_at_desc(report):
    [rec] = _recs_for(report, "logs_for_organisation")
    assert rec["fields"] == ["organisation", "-created_at"]
    assert rec["condition"] is None
    # The free-text search of one organisation is served by the same index.
    assert _by_origin(report, "logs_matching")["id"] in rec["serves"]


def test_retention_purge_gets_brin(report):
    [rec] = _recs_for(report, "purge_logs_before")
    assert rec["method"] == "brin" and rec["fields"] == ["created_at"]


@pytest.mark.parametrize(
    ("function", "index"),
    [
        ("profile_for_user", "monitoring_userprofile_user_id_key"),
        ("profile_by_pk", "monitoring_userprofile_pkey"),
        ("mark_delivered", "monitoring_webhookdelivery_pkey"),
    ],
)
def test_lookups_already_served_get_nothing(report, function, index):
    q = _by_origin(report, function)
    assert q["served_by"] == index
    assert q["recommended"] == []


def test_dynamic_queryset_is_skipped_with_its_reason(report):
    origin = f"{QUERIES}:{_line_of('search_deliveries')}"
    [item] = [s for s in report["skipped"] if s.get("origin") == origin]
    assert "run time" in item["reason"]


def test_json_schema_has_every_documented_field(report):
    assert report["version"] == 1
    assert set(report["summary"]) >= {"statements", "analysed", "skipped"}
    for q in report["queries"]:
        assert {"id", "sql", "origin", "tables"} <= set(q)
    for r in report["recommendations"]:
        assert {
            "app_label",
            "model",
            "table",
            "name",
            "fields",
            "expressions",
            "condition",
            "include",
            "method",
            "sql",
            "django",
            "serves",
            "reason",
        } <= set(r)
        assert r["sql"].startswith("CREATE INDEX CONCURRENTLY ") and r["sql"].endswith(";")
        assert len(r["name"]) <= 30 and r["name"].isidentifier()
    assert {"table", "name", "columns", "origin"} <= set(report["existing"][0])


def test_names_are_stable_across_runs(report):
    again = run_cli("analyze", str(EXAMPLE), "--format", "json")
    assert [r["name"] for r in json.loads(again.stdout)["recommendations"]] == [
        r["name"] for r in report["recommendations"]
    ]


def test_table_report_names_queries_by_path_and_line(report):
    result = run_cli("analyze", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert f"{QUERIES}:{_line_of('due_webhook_deliveries')}" in result.stdout
    assert "monitoring.WebhookDelivery" in result.stdout


# -- the proof on PostgreSQL ------------------------------------------------------------------

# Parameter values a real caller would pass, per query: (column, operator) -> SQL value.
NOW = "now()"
PARAMS: dict[str, dict[tuple[str, str], str]] = {
    "due_webhook_deliveries": {("next_retry_at", "<="): NOW},
    # Most organisations are small: the channel lookups use a typical one.
    "failed_deliveries_for_organisation": {("organisation", "="): "{small_org}"},
    "rules_due_for_evaluation": {("next_evaluation_at", "<="): NOW},
    "active_channels": {("organisation", "="): "{small_org}"},
    "channel_by_name": {("organisation", "="): "{small_org}", ("name", "="): "'{channel}'"},
    "profile_by_email": {("UPPER(email)", "="): "UPPER('{email}')"},
    "recently_seen": {
        ("organisation", "="): "{big_org}",
        ("last_seen_at", ">="): "now() - interval '1 day'",
    },
    "logs_for_organisation": {
        ("organisation", "="): "{big_org}",
        ("created_at", ">="): "now() - interval '7 days'",
        ("created_at", "<"): NOW,
    },
    "error_count_per_integration": {
        ("organisation", "="): "{big_org}",
        ("created_at", ">="): "now() - interval '30 days'",
    },
    "purge_logs_before": {("created_at", "<"): "now() - interval '89 days'"},
    "logs_matching": {("organisation", "="): "{big_org}"},
}
# Text searched by the leading-wildcard LIKE; the static scan writes its run-time value as 'x'.
SEARCH = {"logs_matching": "rate limited"}
_OPS = {exp.EQ: "=", exp.LTE: "<=", exp.LT: "<", exp.GTE: ">=", exp.GT: ">"}
_FLIPPED = {"=": "=", "<=": ">=", "<": ">", ">=": "<=", ">": "<"}


def _bind(sql: str, values: dict[tuple[str, str], str], facts: dict[str, str]) -> str:
    """Replace each $n by the value its comparison calls for."""
    tree = sqlglot.parse_one(sql, read="postgres")
    for param in list(tree.find_all(exp.Parameter)):
        cmp = param.parent
        while not isinstance(cmp, tuple(_OPS)):
            cmp = cmp.parent
        on_right = any(p is param for p in cmp.expression.find_all(exp.Parameter))
        column_side = cmp.this if on_right else cmp.expression
        op = _OPS[type(cmp)] if on_right else _FLIPPED[_OPS[type(cmp)]]
        key = expression_key(column_side.sql(dialect="postgres"))
        value = values[(key, op)].format(**facts)
        (cmp.expression if on_right else cmp.this).replace(
            sqlglot.parse_one(value, read="postgres")
        )
    return tree.sql(dialect="postgres")


def _plan_nodes(conn: psycopg.Connection, sql: str) -> list[dict[str, Any]]:
    plan = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchone()[0][0]["Plan"]
    nodes, todo = [], [plan]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


@pytest.fixture(scope="module")
def loaded_db(pg_server_url: str):
    db: TempDatabase = create_database(pg_server_url)
    try:
        migrate = run_python("manage.py", "migrate", "-v", "0", cwd=EXAMPLE, env=db.env)
        assert migrate.returncode == 0, migrate.stderr
        from benchmarks.datagen import generate

        with psycopg.connect(db.url) as conn:
            generate(conn, scale=0.1)
        yield db
    finally:
        drop_database(pg_server_url, db.name)


def test_every_recommendation_turns_its_queries_into_index_scans(report, loaded_db):
    with psycopg.connect(loaded_db.url, autocommit=True) as conn:
        facts = {
            "big_org": str(
                conn.execute(
                    "SELECT organisation FROM monitoring_integrationlog GROUP BY 1 "
                    "ORDER BY count(*) DESC LIMIT 1"
                ).fetchone()[0]
            ),
            "small_org": str(
                conn.execute(
                    "SELECT organisation FROM monitoring_notificationchannel GROUP BY 1 "
                    "ORDER BY count(*), organisation LIMIT 1"
                ).fetchone()[0]
            ),
            "channel": conn.execute(
                "SELECT name FROM monitoring_notificationchannel LIMIT 1"
            ).fetchone()[0],
            "email": conn.execute("SELECT email FROM monitoring_userprofile LIMIT 1").fetchone()[0],
        }
        checked: list[tuple[dict, str, str]] = []
        for function, values in PARAMS.items():
            q = _by_origin(report, function)
            sql = _bind(q["sql"], values, facts)
            if function in SEARCH:
                assert "'%x%'" in sql, sql
                sql = sql.replace("'%x%'", f"'%{SEARCH[function]}%'")
            for rec in (r for r in report["recommendations"] if q["id"] in r["serves"]):
                checked.append((rec, function, sql))
        assert {rec["name"] for rec, _, _ in checked} == {
            r["name"] for r in report["recommendations"]
        }, "every recommendation is exercised by at least one query"

        before = {}
        for rec, function, sql in checked:
            nodes = _plan_nodes(conn, sql)
            on_table = [n for n in nodes if n.get("Relation Name") == rec["table"]]
            # Slow: the whole table read, as a seq scan or an index scan with no condition
            # (a walk of the primary key, filtering every row), or the rows sorted.
            slow = any(
                n["Node Type"] == "Seq Scan"
                or (n["Node Type"].startswith("Index") and "Index Cond" not in n)
                for n in on_table
            ) or any(n["Node Type"] in ("Sort", "Incremental Sort") for n in nodes)
            assert slow, f"{function}: expected a full scan or a sort before, got {nodes}"
            before[function] = nodes

        for rec in report["recommendations"]:
            for extension in rec["extensions"]:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
            conn.execute(rec["sql"])
        conn.execute("ANALYZE")

        for rec, function, sql in checked:
            nodes = _plan_nodes(conn, sql)
            used = {n.get("Index Name") for n in nodes}
            assert rec["name"] in used, (
                f"{function}: {rec['name']} not used after it was built; plan {nodes}"
            )
            assert not any(
                n["Node Type"] == "Seq Scan" and n.get("Relation Name") == rec["table"]
                for n in nodes
            ), f"{function}: still a seq scan on {rec['table']}"


def test_output_file_is_written_atomically_and_never_over_a_file_of_the_user(tmp_path):
    report_file = tmp_path / "report.json"
    first = run_cli("analyze", str(EXAMPLE), "--format", "json", "-o", str(report_file))
    assert first.returncode == 0, first.stderr
    assert json.loads(report_file.read_text())["version"] == 1
    # A report of ours may be replaced by the next run ...
    again = run_cli("analyze", str(EXAMPLE), "--format", "json", "-o", str(report_file))
    assert again.returncode == 0, again.stderr
    # ... a file of the user's may not.
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    refused = run_cli("analyze", str(EXAMPLE), "-o", str(notes))
    assert refused.returncode == 2
    assert "refusing to overwrite" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert notes.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "report.json"]


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "manage.py").write_text(
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "nowhere.settings")\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cases = [
        (("analyze", str(tmp_path)), "nowhere.settings"),
        (("analyze", str(tmp_path / "missing")), "no Django project"),
        (("analyze", "--workload", str(tmp_path / "none.sql")), "none.sql"),
        (("analyze", "--workload", str(tmp_path / "none.sql"), "--settings", "x.y"), "x.y"),
    ]
    for args, expected in cases:
        result = run_cli(*args, cwd=elsewhere)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, (
            args,
            result.stderr,
        )
        assert "Traceback" not in result.stderr


def test_sql_only_workload_needs_no_project(tmp_path):
    sql = tmp_path / "slow.sql"
    sql.write_text(
        "SELECT * FROM orders WHERE customer_id = %s AND status IN ('new', 'paid') "
        "ORDER BY created_at DESC LIMIT 20;\n"
        "SELEC oops;\n"
        "SELECT * FROM orders WHERE customer_id = $1 AND status = 'new';\n"
    )
    result = run_cli("analyze", "--workload", str(sql), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # One index for both: the second query's status = 'new' implies the first's IN list.
    [rec] = report["recommendations"]
    assert rec["fields"] == ["customer_id", "-created_at"]
    assert rec["condition"] == "status IN ('new', 'paid')"
    assert len(rec["serves"]) == 2
    assert rec["table"] == "orders" and rec["model"] is None
    assert rec["django"].startswith('models.Index(fields=["customer_id", "-created_at"]')
    assert rec["sql"].startswith('CREATE INDEX CONCURRENTLY "orders_custome_')
    assert len(report["skipped"]) == 1 and report["skipped"][0]["origin"].endswith("slow.sql:2")


def test_fail_on_recommendations_exits_1_only_when_something_is_proposed(tmp_path):
    proposing = run_cli("analyze", str(EXAMPLE), "--format", "json", "--fail-on-recommendations")
    assert proposing.returncode == 1 and json.loads(proposing.stdout)["recommendations"]
    sql = tmp_path / "served.sql"
    sql.write_text("SELECT * FROM monitoring_userprofile WHERE id = %s;\n")
    served = run_cli(
        "analyze", str(EXAMPLE), "--no-static", "--workload", str(sql), "--fail-on-recommendations"
    )
    assert served.returncode == 0, served.stderr
    assert "No new index proposed" in served.stdout


def test_proposed_sql_is_valid_without_django_contrib_postgres_installed(
    example_copy, temp_database
) -> None:
    # Without the app Django renders OpClass as "(UPPER(x) gin_trgm_ops)", which PostgreSQL
    # rejects: every proposed statement must still run as printed.
    settings = example_copy / "alerting_project" / "settings.py"
    text = settings.read_text()
    assert '    "django.contrib.postgres",\n' in text
    settings.write_text(text.replace('    "django.contrib.postgres",\n', ""))
    result = run_cli("analyze", str(example_copy), "--format", "json", cwd=example_copy)
    assert result.returncode == 0, result.stderr
    recommendations = json.loads(result.stdout)["recommendations"]
    assert any("gin_trgm_ops" in r["sql"] for r in recommendations)
    migrated = run_python("manage.py", "migrate", "-v0", cwd=example_copy, env=temp_database.env)
    assert migrated.returncode == 0, migrated.stderr
    with psycopg.connect(temp_database.url, autocommit=True) as conn:
        for rec in recommendations:
            for extension in rec["extensions"]:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
            conn.execute(rec["sql"])  # raises on SQL PostgreSQL rejects


def test_a_statement_is_already_served_only_when_no_proposal_serves_it(tmp_path):
    # The sub-query's read of the rule (ordered, as Django's Subquery keeps Meta.ordering) is
    # served by its primary key; the list of deliveries by attempts is not. The statement is
    # then proposed for, not "already served".
    sql = tmp_path / "mixed.sql"
    sql.write_text(
        "SELECT d.id, (SELECT r.name FROM monitoring_alertrule r WHERE r.id = d.rule_id "
        "ORDER BY r.created_at DESC LIMIT 1) FROM monitoring_webhookdelivery d "
        "WHERE d.attempts = %s ORDER BY d.created_at DESC LIMIT 20;\n"
    )
    result = run_cli(
        "analyze", str(EXAMPLE), "--no-static", "--workload", str(sql), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [query] = report["queries"]
    [rec] = report["recommendations"]
    assert query["id"] in rec["serves"] and query["served_by"] is None
    table = run_cli("analyze", str(EXAMPLE), "--no-static", "--workload", str(sql))
    assert "0 queries already served" in " ".join(table.stdout.split()), table.stdout
