"""The benchmark workload: the example's own query functions, with values picked from the data.

    >>> import psycopg
    >>> with psycopg.connect(url) as conn:  # doctest: +SKIP
    ...     params = pick_parameters(conn)
    >>> queries = capture_queries(EXAMPLE, url, params)  # doctest: +SKIP
    >>> queries[0].family, queries[0].name
    ('webhook_retry', 'due_webhook_deliveries')

The SQL is not written by hand: each function of ``examples/alerting/monitoring/queries.py`` is
called in a Django subprocess against the benchmark database, inside a transaction that is
rolled back, and the statements Django sends are recorded with their values inlined (the way
Django's psycopg 3 backend sends them, client-side bound). Parameter values come from the
generated data: a large and a small organisation, the busiest channel, a user with a
mixed-case e-mail address, ``now()`` of the run. They are fixed for one run, so every
configuration times the very same statements.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "alerting"

# Family key -> label; the order of queries.py.
FAMILIES = {
    "webhook_retry": "Webhook retry",
    "alert_rules": "Alert rule evaluation",
    "user_profiles": "User profile lookups",
    "integration_logs": "Integration logs",
}


@dataclass(frozen=True, slots=True)
class Parameters:
    """Values for the query functions, picked from the data once per run."""

    now: str  # ISO timestamps: the subprocess turns them back into datetimes
    large_org: int
    small_org: int
    channel_id: int
    user_id: int
    profile_pk: int
    email: str
    due_delivery_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WorkloadQuery:
    """One statement of the workload, values inlined, ready for EXPLAIN ANALYZE."""

    family: str
    name: str  # function name, plus the case when a function is called twice
    sql: str
    writes: bool  # UPDATE/DELETE: must run in a rolled-back transaction


def pick_parameters(conn: psycopg.Connection) -> Parameters:
    """Realistic values from the generated data (deterministic for the same data)."""

    def one(query: str) -> Any:
        row = conn.execute(query).fetchone()
        if row is None:
            raise RuntimeError(f"the benchmark data has no row for: {query}")
        return row[0]

    now = one("SELECT now()")
    # The largest organisation by log volume, and a small one that still has channels and logs.
    large_org = one(
        "SELECT organisation FROM monitoring_integrationlog GROUP BY 1 "
        "ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    small_org = one(
        "SELECT c.organisation FROM monitoring_notificationchannel c "
        "WHERE EXISTS (SELECT FROM monitoring_integrationlog l "
        "              WHERE l.organisation = c.organisation) "
        "GROUP BY 1 ORDER BY count(*), 1 DESC LIMIT 1"
    )
    channel_id = one(
        "SELECT channel_id FROM monitoring_alertrule GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    user_id, profile_pk, email = (
        conn.execute(
            "SELECT user_id, id, email FROM monitoring_userprofile WHERE email <> lower(email) "
            "ORDER BY id OFFSET (SELECT count(*) / 20 FROM monitoring_userprofile) LIMIT 1"
        ).fetchone()
        or conn.execute(
            "SELECT user_id, id, email FROM monitoring_userprofile ORDER BY id LIMIT 1"
        ).fetchone()
    )
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM monitoring_webhookdelivery WHERE status IN ('pending', 'failed') "
            "AND next_retry_at <= now() ORDER BY next_retry_at LIMIT 100"
        ).fetchall()
    ]
    return Parameters(
        now=now.isoformat(),
        large_org=large_org,
        small_org=small_org,
        channel_id=channel_id,
        user_id=user_id,
        profile_pk=profile_pk,
        email=email.lower(),
        due_delivery_ids=tuple(ids) or (1,),
    )


def capture_queries(
    project: Path, database_url: str, params: Parameters, timeout: float = 300
) -> list[WorkloadQuery]:
    """Run the project's query functions in a Django subprocess; return the SQL they sent."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "alerting_project.settings",
        "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.workload", json.dumps(asdict(params))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"capturing the workload failed:\n{proc.stderr[-3000:]}")
    return [WorkloadQuery(**item) for item in json.loads(proc.stdout)]


def execute_plainly(
    conn: psycopg.Connection, queries: list[WorkloadQuery], repeats: int = 1
) -> None:
    """Run the workload as the application would (no EXPLAIN), e.g. so that pg_qualstats and
    pg_stat_statements see it. Each statement runs in its own transaction, rolled back, so
    writes leave the data as it was."""
    for _ in range(repeats):
        for query in queries:
            with conn.transaction(force_rollback=True):
                cursor = conn.execute(query.sql)
                if cursor.description is not None:
                    cursor.fetchall()


def _calls(p: Parameters) -> list[tuple[str, str, str, tuple[Any, ...], dict[str, Any]]]:
    """(family, name, function, args, kwargs) for every call of the workload."""
    now = datetime.fromisoformat(p.now)
    day = timedelta(days=1)
    calls: list[tuple[str, str, str, tuple[Any, ...], dict[str, Any]]] = [
        ("webhook_retry", "due_webhook_deliveries", "due_webhook_deliveries", (now,), {}),
        ("webhook_retry", "mark_delivered", "mark_delivered", (list(p.due_delivery_ids),), {}),
        (
            "webhook_retry",
            "search_deliveries",
            "search_deliveries",
            (),
            {"status": "failed", "response_code": 503},
        ),
        ("alert_rules", "rules_due_for_evaluation", "rules_due_for_evaluation", (now,), {}),
        ("alert_rules", "rules_for_channel", "rules_for_channel", (p.channel_id,), {}),
        ("user_profiles", "profile_for_user", "profile_for_user", (p.user_id,), {}),
        ("user_profiles", "profile_by_pk", "profile_by_pk", (p.profile_pk,), {}),
        ("user_profiles", "profile_by_email", "profile_by_email", (p.email,), {}),
        ("integration_logs", "purge_logs_before", "purge_logs_before", (now - 83 * day,), {}),
    ]
    for size, org in (("large org", p.large_org), ("small org", p.small_org)):
        calls += [
            (
                "webhook_retry",
                f"failed_deliveries_for_organisation [{size}]",
                "failed_deliveries_for_organisation",
                (org,),
                {},
            ),
            ("alert_rules", f"active_channels [{size}]", "active_channels", (org,), {}),
            ("user_profiles", f"recently_seen [{size}]", "recently_seen", (org, now - 7 * day), {}),
            (
                "integration_logs",
                f"logs_for_organisation [{size}]",
                "logs_for_organisation",
                (org, now - day, now),
                {},
            ),
            (
                "integration_logs",
                f"error_count_per_integration [{size}]",
                "error_count_per_integration",
                (org, now - 7 * day),
                {},
            ),
            (
                "integration_logs",
                f"logs_matching [{size}]",
                "logs_matching",
                (org, "rate limited"),
                {},
            ),
        ]
    order = list(FAMILIES)
    return sorted(calls, key=lambda c: order.index(c[0]))


def _capture_in_django(params: Parameters) -> list[dict[str, Any]]:
    """Inside the Django subprocess: call every function, record what it sends, roll back."""
    import django

    django.setup()
    from django.db import connection, transaction
    from monitoring import queries  # type: ignore[import-not-found]

    recorded: list[str] = []

    def record(execute, sql, sql_params, many, context):
        recorded.append(connection.ops.compose_sql(sql, sql_params) if sql_params else sql)
        return execute(sql, sql_params, many, context)

    out: list[dict[str, Any]] = []
    for family, name, function, args, kwargs in _calls(params):
        recorded.clear()
        with transaction.atomic(), connection.execute_wrapper(record):
            getattr(queries, function)(*args, **kwargs)
            transaction.set_rollback(True)
        statements = [s for s in recorded if not s.lstrip().upper().startswith("SAVEPOINT")]
        for i, statement in enumerate(statements):
            verb = statement.lstrip().split(None, 1)[0].upper()
            out.append(
                {
                    "family": family,
                    "name": name if len(statements) == 1 else f"{name} #{i + 1}",
                    "sql": statement,
                    "writes": verb in {"UPDATE", "DELETE", "INSERT"},
                }
            )
    return out


if __name__ == "__main__":
    print(
        json.dumps(
            _capture_in_django(
                Parameters(
                    **{
                        k: tuple(v) if isinstance(v, list) else v
                        for k, v in json.loads(sys.argv[1]).items()
                    }
                )
            )
        )
    )
