"""The bundled example project: it migrates, its own tests pass, and datagen fills it with skew."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from psycopg import sql

from benchmarks import datagen
from idxadvisor.errors import DatabaseError, UsageError
from tests.helpers import (
    EXAMPLE,
    ROOT,
    TempDatabase,
    create_database,
    drop_database,
    run_python,
)

SCALE = 0.02


@pytest.fixture(scope="module")
def migrated_database(pg_server_url: str) -> Iterator[TempDatabase]:
    """A database that ``manage.py migrate`` has set up, shared by this module's tests."""
    db = create_database(pg_server_url, prefix="idxadv_example")
    try:
        result = run_python("manage.py", "migrate", "--noinput", cwd=EXAMPLE, env=db.env)
        assert result.returncode == 0, result.stderr
        yield db
    finally:
        # `manage.py test` makes test_<name> and, with --parallel, numbered clones of it.
        for name in (db.name, f"test_{db.name}", f"test_{db.name}_1", f"test_{db.name}_2"):
            drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def generated(migrated_database: TempDatabase) -> dict[str, int]:
    with migrated_database.connect() as conn:
        return datagen.generate(conn, scale=SCALE, seed=7)


def fetch_one(db: TempDatabase, query: str, params: dict | None = None) -> tuple:
    with db.connect() as conn:
        return conn.execute(query, params).fetchone()


def test_migrate_creates_only_djangos_default_indexes(migrated_database: TempDatabase) -> None:
    with migrated_database.connect() as conn:
        rows = conn.execute(
            """
            SELECT t.relname, array_agg(a.attname ORDER BY a.attname)
            FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (i.indkey)
            WHERE t.relname LIKE 'monitoring\\_%'
            GROUP BY t.relname, i.indexrelid
            """
        ).fetchall()
    indexed: dict[str, set[str]] = {}
    for table, columns in rows:
        assert len(columns) == 1, f"unexpected multi-column index on {table}: {columns}"
        indexed.setdefault(table, set()).add(columns[0])
    assert indexed == {
        "monitoring_userprofile": {"id", "user_id"},
        "monitoring_notificationchannel": {"id", "owner_id"},
        "monitoring_alertrule": {"id", "owner_id", "channel_id"},
        "monitoring_webhookdelivery": {"id", "channel_id", "rule_id"},
        "monitoring_integrationlog": {"id"},
    }


def test_app_tests_pass_on_postgresql(migrated_database: TempDatabase) -> None:
    result = run_python(
        "manage.py", "test", "--noinput", "--parallel", "2", cwd=EXAMPLE, env=migrated_database.env
    )
    assert result.returncode == 0, result.stderr
    ran = re.search(r"Ran (\d+) tests", result.stderr)
    assert ran and int(ran.group(1)) >= 16, result.stderr
    assert "\nOK" in result.stderr


def test_migrations_match_models(migrated_database: TempDatabase) -> None:
    result = run_python(
        "manage.py",
        "makemigrations",
        "--check",
        "--dry-run",
        cwd=EXAMPLE,
        env=migrated_database.env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_settings_read_database_url_without_connecting() -> None:
    show = "import json, alerting_project.settings as s; print(json.dumps(s.DATABASES['default']))"
    env = {"DATABASE_URL": "postgresql://alice:p%40ss@db.invalid:6543/metrics?sslmode=require"}
    result = run_python("-c", show, cwd=EXAMPLE, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "metrics",
        "USER": "alice",
        "PASSWORD": "p@ss",
        "HOST": "db.invalid",
        "PORT": "6543",
        "OPTIONS": {"sslmode": "require"},
    }


def test_settings_fall_back_to_libpq_variables() -> None:
    show = "import json, alerting_project.settings as s; print(json.dumps(s.DATABASES['default']))"
    env = {
        "DATABASE_URL": "",
        "PGHOST": "pg.invalid",
        "PGPORT": "5499",
        "PGUSER": "bob",
        "PGPASSWORD": "",
        "PGDATABASE": "alerting_dev",
    }
    result = run_python("-c", show, cwd=EXAMPLE, env=env)
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    assert (settings["HOST"], settings["PORT"], settings["USER"], settings["NAME"]) == (
        "pg.invalid",
        "5499",
        "bob",
        "alerting_dev",
    )


def test_datagen_counts(migrated_database: TempDatabase, generated: dict[str, int]) -> None:
    assert generated == datagen.row_counts(SCALE)
    assert generated["monitoring_webhookdelivery"] == 20_000
    with migrated_database.connect() as conn:
        for table, expected in generated.items():
            actual = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            assert actual == expected, table


def test_datagen_delivery_skew(migrated_database: TempDatabase, generated: dict[str, int]) -> None:
    total, retrying, due, future, delivered, retry_without_time, wrong_channel = fetch_one(
        migrated_database,
        """
        SELECT count(*),
               count(*) FILTER (WHERE status IN ('pending', 'failed')),
               count(*) FILTER (WHERE status IN ('pending', 'failed') AND next_retry_at <= now()),
               count(*) FILTER (WHERE status IN ('pending', 'failed') AND next_retry_at > now()),
               count(*) FILTER (WHERE status = 'delivered'),
               count(*) FILTER (WHERE status IN ('pending', 'failed') AND next_retry_at IS NULL),
               count(*) FILTER (WHERE d.channel_id <> r.channel_id)
        FROM monitoring_webhookdelivery d
        LEFT JOIN monitoring_alertrule r ON r.id = d.rule_id
        """,
    )
    assert 0.01 < retrying / total < 0.10
    assert 0.90 < delivered / total < 0.99
    assert 0 < due < future, "most retries lie ahead, some are due"
    assert retry_without_time == 0
    assert wrong_channel == 0, "a delivery goes to its rule's channel"


def test_datagen_logs_are_append_only_and_skewed(
    migrated_database: TempDatabase, generated: dict[str, int]
) -> None:
    (correlation,) = fetch_one(
        migrated_database,
        "SELECT correlation FROM pg_stats WHERE tablename = 'monitoring_integrationlog' "
        "AND attname = 'created_at'",
    )
    assert correlation > 0.9
    total, errors, info, span_days = fetch_one(
        migrated_database,
        "SELECT count(*), count(*) FILTER (WHERE level = 'error'), "
        "count(*) FILTER (WHERE level = 'info'), "
        "extract(epoch FROM max(created_at) - min(created_at)) / 86400 "
        "FROM monitoring_integrationlog",
    )
    assert 0.005 < errors / total < 0.02
    assert 0.80 < info / total < 0.90
    assert 89 < span_days < 91
    largest_share, median_rows = fetch_one(
        migrated_database,
        "SELECT max(n)::float / sum(n), percentile_cont(0.5) WITHIN GROUP (ORDER BY n) "
        "FROM (SELECT count(*) AS n FROM monitoring_integrationlog GROUP BY organisation) o",
    )
    assert largest_share > 0.05, "a few organisations are large"
    assert median_rows < total / 1000, "most organisations are small"


def test_datagen_rules_and_profiles(
    migrated_database: TempDatabase, generated: dict[str, int]
) -> None:
    rules, active, due, mismatched_org = fetch_one(
        migrated_database,
        "SELECT count(*), count(*) FILTER (WHERE is_active), "
        "count(*) FILTER (WHERE is_active AND next_evaluation_at <= now()), "
        "count(*) FILTER (WHERE r.organisation <> c.organisation) "
        "FROM monitoring_alertrule r JOIN monitoring_notificationchannel c ON c.id = r.channel_id",
    )
    assert 0.05 < active / rules < 0.15
    assert 0 < due < active
    assert mismatched_org == 0
    profiles, mixed_case, never_seen = fetch_one(
        migrated_database,
        "SELECT count(*), count(*) FILTER (WHERE email <> lower(email)), "
        "count(*) FILTER (WHERE last_seen_at IS NULL) FROM monitoring_userprofile",
    )
    assert profiles == generated["auth_user"]
    assert 0 < mixed_case < profiles / 2
    assert 0 < never_seen < profiles / 2


def test_example_queries_run_on_generated_data(
    migrated_database: TempDatabase, generated: dict[str, int]
) -> None:
    (now,) = fetch_one(migrated_database, "SELECT now()")
    script = (
        "import os, sys\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'alerting_project.settings'\n"
        "import django\n"
        "django.setup()\n"
        "from datetime import datetime\n"
        "from monitoring import queries\n"
        "now = datetime.fromisoformat(sys.argv[1])\n"
        "print(len(queries.due_webhook_deliveries(now, limit=1_000_000)), "
        "len(queries.rules_due_for_evaluation(now)))\n"
    )
    result = run_python("-c", script, now.isoformat(), cwd=EXAMPLE, env=migrated_database.env)
    assert result.returncode == 0, result.stderr
    due_deliveries, due_rules = map(int, result.stdout.split())
    expected = fetch_one(
        migrated_database,
        "SELECT (SELECT count(*) FROM monitoring_webhookdelivery "
        "        WHERE status IN ('pending', 'failed') AND next_retry_at <= %(now)s), "
        "       (SELECT count(*) FROM monitoring_alertrule "
        "        WHERE is_active AND next_evaluation_at <= %(now)s)",
        {"now": now},
    )
    assert due_deliveries > 0 and due_rules > 0
    assert (due_deliveries, due_rules) == expected


def test_datagen_refuses_a_filled_database(
    migrated_database: TempDatabase, generated: dict[str, int]
) -> None:
    with migrated_database.connect() as conn, pytest.raises(DatabaseError, match="not empty"):
        datagen.generate(conn, scale=SCALE)


def test_datagen_cli_explains_missing_tables(temp_database: TempDatabase) -> None:
    result = run_python(
        "-m", "benchmarks.datagen", "--database-url", temp_database.url, "--scale", "0.01", cwd=ROOT
    )
    assert result.returncode == 2
    assert "tables missing" in result.stderr and "manage.py migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_datagen_rejects_a_bad_scale(temp_database: TempDatabase) -> None:
    with temp_database.connect() as conn, pytest.raises(UsageError, match="scale"):
        datagen.generate(conn, scale=0)


def test_datagen_same_seed_same_data(
    temp_database: TempDatabase, migrated_database: TempDatabase, generated: dict[str, int]
) -> None:
    migrate = run_python("manage.py", "migrate", "--noinput", cwd=EXAMPLE, env=temp_database.env)
    assert migrate.returncode == 0, migrate.stderr
    with temp_database.connect() as conn:
        datagen.generate(conn, scale=SCALE, seed=7)
    # times move with the clock; everything else follows from the seed
    fingerprint = (
        "SELECT md5(string_agg(concat_ws(',', organisation, integration, level, message), ';' "
        "ORDER BY id)) FROM monitoring_integrationlog"
    )
    assert fetch_one(temp_database, fingerprint) == fetch_one(migrated_database, fingerprint)
