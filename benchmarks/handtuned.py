"""The indexes a careful DBA would build by hand for the example's workload: the yardstick for
idxadvisor's byte count.

    >>> [index.name for index in INDEXES][:2]
    ['handtuned_delivery_retry', 'handtuned_delivery_failed_channel']
    >>> advise().statements[0]
    'CREATE EXTENSION IF NOT EXISTS pg_trgm'

Written by reading ``examples/alerting/monitoring/queries.py``, the data's shape
(:mod:`benchmarks.datagen`) and the plans of the default state, with the whole workload in view
(the runtime-built ``search_deliveries`` filter included, which a static scan cannot see). The
rules the DBA followed: an index only where a plan reads far more rows than it returns; a partial
index where the query's constant filter keeps a small share of the rows; one index serving
several queries where its leading keys fit them all; no INCLUDE column when the rows read are
few, since the heap visit then costs less than the wider index; BRIN for the append-only
timestamp. The foreign-key indexes Django made stay: cascading deletes of channels and rules
need them, and no index below leads with all of a foreign key's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.advisors import Advice

NAME = "hand-tuned (DBA)"

# gin_trgm_ops for the leading-wildcard search.
EXTENSIONS = ("pg_trgm",)


@dataclass(frozen=True, slots=True)
class HandIndex:
    """One index of the hand-tuned set, with the workload functions it is for and why."""

    name: str
    table: str
    body: str  # everything after ``ON <table>``: method, keys, WHERE
    serves: tuple[str, ...]  # function names of monitoring/queries.py
    why: str

    @property
    def sql(self) -> str:
        return f"CREATE INDEX {self.name} ON {self.table} {self.body}"


INDEXES = (
    HandIndex(
        "handtuned_delivery_retry",
        "monitoring_webhookdelivery",
        "(next_retry_at) WHERE status IN ('pending', 'failed')",
        ("due_webhook_deliveries",),
        "the retry queue is ~3.5% of deliveries; due-time order lets LIMIT 100 stop early",
    ),
    HandIndex(
        "handtuned_delivery_failed_channel",
        "monitoring_webhookdelivery",
        "(channel_id, created_at DESC) WHERE status = 'failed'",
        ("failed_deliveries_for_organisation",),
        "per channel of the organisation, newest failures first; failures are ~1.5% of rows",
    ),
    HandIndex(
        "handtuned_delivery_failed_recent",
        "monitoring_webhookdelivery",
        "(created_at DESC) WHERE status = 'failed'",
        ("search_deliveries",),
        "support search on failed deliveries: newest first, response_code checked on the few "
        "rows read before LIMIT 20",
    ),
    HandIndex(
        "handtuned_rule_due",
        "monitoring_alertrule",
        "(next_evaluation_at) WHERE is_active",
        ("rules_due_for_evaluation",),
        "only ~10% of rules are active; due-time order serves the scheduler's LIMIT 500",
    ),
    HandIndex(
        "handtuned_channel_org_name",
        "monitoring_notificationchannel",
        "(organisation, name)",
        ("active_channels", "failed_deliveries_for_organisation", "channel_by_name"),
        "an organisation's channels in name order; also the join from deliveries to the org",
    ),
    HandIndex(
        "handtuned_profile_email",
        "monitoring_userprofile",
        "(upper(email::text))",
        ("profile_by_email",),
        "iexact compares UPPER(email): only an index on that expression can seek",
    ),
    HandIndex(
        "handtuned_profile_seen",
        "monitoring_userprofile",
        "(organisation, last_seen_at DESC) WHERE last_seen_at IS NOT NULL",
        ("recently_seen",),
        "newest-seen first within the organisation; a fifth never logged in and >= never "
        "matches NULL, so those rows stay out",
    ),
    HandIndex(
        "handtuned_log_org_time",
        "monitoring_integrationlog",
        "(organisation, created_at DESC)",
        ("logs_for_organisation", "logs_matching"),
        "one organisation's time window newest first; the log viewer and the search stop at "
        "LIMIT 50",
    ),
    HandIndex(
        "handtuned_log_errors",
        "monitoring_integrationlog",
        "(organisation, created_at) WHERE level = 'error'",
        ("error_count_per_integration",),
        "errors are ~1% of logs; the few matching rows are cheaper to visit than to INCLUDE",
    ),
    HandIndex(
        "handtuned_log_created_brin",
        "monitoring_integrationlog",
        "USING brin (created_at)",
        ("purge_logs_before",),
        "append-only logs: created_at follows the heap, so a few BRIN pages find old rows",
    ),
    HandIndex(
        "handtuned_log_message_trgm",
        "monitoring_integrationlog",
        "USING gin (upper(message::text) gin_trgm_ops)",
        ("logs_matching",),
        "icontains is UPPER(message) LIKE '%...%': only trigrams serve a leading wildcard",
    ),
)


def statements() -> tuple[str, ...]:
    """The extensions, then every CREATE INDEX of the set, in order."""
    return (
        *(f"CREATE EXTENSION IF NOT EXISTS {name}" for name in EXTENSIONS),
        *(index.sql for index in INDEXES),
    )


def advise() -> Advice:
    """The hand-tuned set as an :class:`Advice` the benchmark runner builds like any other."""
    return Advice(
        advisor=NAME,
        statements=statements(),
        advise_seconds=None,
        applied_via="SQL (by hand)",
        details={
            "indexes": [
                {"name": i.name, "sql": i.sql, "serves": list(i.serves), "why": i.why}
                for i in INDEXES
            ]
        },
    )
