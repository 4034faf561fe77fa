"""The queries the alerting service runs, grouped by the job that runs them.

Each function evaluates its queryset (``list()``, ``.first()``, ``.count()``, ...) so that calling
it executes SQL. Constants that the domain fixes (statuses, levels, page sizes) are written as
literals, the way application code usually has them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Count
from django.utils import timezone

from monitoring.models import (
    AlertRule,
    IntegrationLog,
    NotificationChannel,
    UserProfile,
    WebhookDelivery,
)

# --- Webhook retry worker -------------------------------------------------------------------


def due_webhook_deliveries(now: datetime, limit: int = 100) -> list[WebhookDelivery]:
    """Deliveries the retry worker should attempt now, oldest due first."""
    return list(
        WebhookDelivery.objects.filter(status__in=["pending", "failed"], next_retry_at__lte=now)
        .order_by("next_retry_at")[:limit]
    )


def mark_delivered(ids: Iterable[int]) -> int:
    """Record a successful delivery; returns how many rows changed."""
    return WebhookDelivery.objects.filter(pk__in=list(ids)).update(
        status="delivered", delivered_at=timezone.now(), next_retry_at=None
    )


def failed_deliveries_for_organisation(org: int) -> list[WebhookDelivery]:
    """The latest failures of one organisation, for its dashboard."""
    return list(
        WebhookDelivery.objects.filter(channel__organisation=org, status="failed")
        .order_by("-created_at")[:50]
    )


def search_deliveries(**criteria: Any) -> list[WebhookDelivery]:
    """Support-tool search: exact matches on whatever fields the caller names.

    The filter is assembled at run time, so only a runtime capture sees which columns it uses.
    """
    filters = {f"{field}__exact": value for field, value in criteria.items()}
    return list(WebhookDelivery.objects.filter(**filters).order_by("-created_at")[:20])


# --- Alert rule evaluation ------------------------------------------------------------------


def rules_due_for_evaluation(now: datetime) -> list[AlertRule]:
    """The scheduler's batch: active rules whose next evaluation is due."""
    return list(
        AlertRule.objects.filter(is_active=True, next_evaluation_at__lte=now)
        .order_by("next_evaluation_at")[:500]
    )


def rules_for_channel(channel_id: int) -> list[AlertRule]:
    """Rules that notify a channel, e.g. before the channel is deleted."""
    return list(AlertRule.objects.filter(channel_id=channel_id).order_by("name"))


def active_channels(org: int) -> list[NotificationChannel]:
    """The channels of an organisation that have not been disabled."""
    return list(
        NotificationChannel.objects.filter(organisation=org, disabled_at__isnull=True)
        .order_by("name")
    )


def channel_by_name(org: int, name: str) -> NotificationChannel:
    """The channel an alert rule form names (names are unique within an organisation)."""
    return NotificationChannel.objects.get(organisation=org, name=name)


# --- User profile lookups -------------------------------------------------------------------


def profile_for_user(user_id: int) -> UserProfile:
    """The profile of a logged-in user (served by the one-to-one's unique index)."""
    return UserProfile.objects.get(user_id=user_id)


def profile_by_pk(pk: int) -> UserProfile:
    """A profile by primary key."""
    return UserProfile.objects.get(pk=pk)


def profile_by_email(email: str) -> UserProfile | None:
    """Login and invitations: e-mail addresses compare case-insensitively."""
    return UserProfile.objects.filter(email__iexact=email).first()


def recently_seen(org: int, since: datetime) -> list[UserProfile]:
    """Who in the organisation was active lately, most recent first."""
    return list(
        UserProfile.objects.filter(organisation=org, last_seen_at__gte=since)
        .order_by("-last_seen_at")[:20]
    )


# --- Integration logs -----------------------------------------------------------------------


def logs_for_organisation(
    org: int, start: datetime, end: datetime, limit: int = 50
) -> list[IntegrationLog]:
    """One page of an organisation's log viewer for a time window, newest first."""
    return list(
        IntegrationLog.objects.filter(organisation=org, created_at__gte=start, created_at__lt=end)
        .order_by("-created_at")[:limit]
    )


def error_count_per_integration(org: int, since: datetime) -> dict[str, int]:
    """Errors per integration since a moment, for the health overview."""
    rows = (
        IntegrationLog.objects.filter(organisation=org, level="error", created_at__gte=since)
        .values("integration")
        .annotate(n=Count("id"))
    )
    return {row["integration"]: row["n"] for row in rows}


def purge_logs_before(cutoff: datetime) -> int:
    """Retention job: delete logs older than the cutoff; returns how many went."""
    deleted, _ = IntegrationLog.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def logs_matching(org: int, text: str) -> list[IntegrationLog]:
    """Free-text search in an organisation's log messages (a leading-wildcard LIKE)."""
    return list(
        IntegrationLog.objects.filter(organisation=org, message__icontains=text)
        .order_by("-created_at")[:50]
    )
