"""Every function in ``queries.py`` run against PostgreSQL with a little data."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import TestCase
from django.utils import timezone

from monitoring import queries
from monitoring.models import (
    AlertRule,
    IntegrationLog,
    NotificationChannel,
    UserProfile,
    WebhookDelivery,
)

ORG = 7
OTHER_ORG = 8


def make_profile(username: str, org: int = ORG, **fields) -> UserProfile:
    user = get_user_model().objects.create_user(username=username)
    return UserProfile.objects.create(
        user=user,
        organisation=org,
        email=fields.pop("email", f"{username}@example.com"),
        display_name=username.title(),
        **fields,
    )


class WebhookRetryTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.now = timezone.now()
        owner = make_profile("ada")
        other = make_profile("bob", org=OTHER_ORG)
        cls.channel = NotificationChannel.objects.create(
            organisation=ORG, owner=owner, name="ops", kind="webhook",
            target_url="https://hooks.example.com/ops",
        )
        cls.other_channel = NotificationChannel.objects.create(
            organisation=OTHER_ORG, owner=other, name="ops", kind="slack",
        )
        cls.rule = AlertRule.objects.create(
            organisation=ORG, owner=owner, channel=cls.channel, name="cpu", expression="cpu > 90",
        )

        def delivery(status: str, retry_in: timedelta | None, channel=None, **fields):
            return WebhookDelivery.objects.create(
                channel=channel or cls.channel,
                status=status,
                next_retry_at=cls.now + retry_in if retry_in is not None else None,
                **fields,
            )

        cls.due_failed = delivery("failed", timedelta(minutes=-10), attempts=3)
        cls.due_pending = delivery("pending", timedelta(minutes=-1))
        cls.later = delivery("pending", timedelta(minutes=30))
        cls.done = delivery("delivered", None, delivered_at=cls.now)
        cls.other_failed = delivery("failed", timedelta(minutes=-5), channel=cls.other_channel)
        cls.abandoned = delivery("abandoned", None, rule=cls.rule, attempts=10)
        delivery("abandoned", None, attempts=10)  # same status, no rule

    def test_due_deliveries_oldest_first(self) -> None:
        due = queries.due_webhook_deliveries(self.now)
        self.assertEqual(
            [d.pk for d in due], [self.due_failed.pk, self.other_failed.pk, self.due_pending.pk]
        )

    def test_due_deliveries_respects_limit(self) -> None:
        self.assertEqual(
            [d.pk for d in queries.due_webhook_deliveries(self.now, limit=1)], [self.due_failed.pk]
        )

    def test_mark_delivered(self) -> None:
        changed = queries.mark_delivered([self.due_failed.pk, self.due_pending.pk])
        self.assertEqual(changed, 2)
        self.due_failed.refresh_from_db()
        self.assertEqual(self.due_failed.status, "delivered")
        self.assertIsNotNone(self.due_failed.delivered_at)
        self.assertIsNone(self.due_failed.next_retry_at)
        self.assertEqual([d.pk for d in queries.due_webhook_deliveries(self.now)],
                         [self.other_failed.pk])

    def test_failed_deliveries_for_organisation(self) -> None:
        self.assertEqual(
            [d.pk for d in queries.failed_deliveries_for_organisation(ORG)], [self.due_failed.pk]
        )
        self.assertEqual(
            [d.pk for d in queries.failed_deliveries_for_organisation(OTHER_ORG)],
            [self.other_failed.pk],
        )

    def test_search_deliveries_by_rule_and_status(self) -> None:
        found = queries.search_deliveries(rule_id=self.rule.pk, status="abandoned")
        self.assertEqual([d.pk for d in found], [self.abandoned.pk])
        self.assertEqual(len(queries.search_deliveries(status="abandoned")), 2)


class AlertRuleEvaluationTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.now = timezone.now()
        owner = make_profile("carol")
        cls.channel = NotificationChannel.objects.create(
            organisation=ORG, owner=owner, name="pager", kind="pagerduty"
        )
        cls.quiet = NotificationChannel.objects.create(
            organisation=ORG, owner=owner, name="email", kind="email"
        )
        NotificationChannel.objects.create(
            organisation=ORG, owner=owner, name="old", kind="slack", disabled_at=cls.now
        )

        def rule(name: str, due_in: timedelta, is_active: bool = True, channel=None):
            return AlertRule.objects.create(
                organisation=ORG, owner=owner, channel=channel or cls.channel, name=name,
                expression=f"{name} > 1", is_active=is_active,
                next_evaluation_at=cls.now + due_in,
            )

        cls.late = rule("latency", timedelta(minutes=-3))
        cls.errors = rule("errors", timedelta(seconds=-30))
        cls.future = rule("disk", timedelta(minutes=5))
        cls.paused = rule("memory", timedelta(minutes=-60), is_active=False, channel=cls.quiet)

    def test_rules_due_for_evaluation(self) -> None:
        self.assertEqual(
            [r.pk for r in queries.rules_due_for_evaluation(self.now)],
            [self.late.pk, self.errors.pk],
        )

    def test_rules_for_channel(self) -> None:
        self.assertEqual(
            [r.name for r in queries.rules_for_channel(self.channel.pk)],
            ["disk", "errors", "latency"],
        )
        self.assertEqual([r.pk for r in queries.rules_for_channel(self.quiet.pk)],
                         [self.paused.pk])

    def test_active_channels_skip_disabled(self) -> None:
        self.assertEqual([c.name for c in queries.active_channels(ORG)], ["email", "pager"])
        self.assertEqual(queries.active_channels(OTHER_ORG), [])

    def test_channel_by_name(self) -> None:
        self.assertEqual(queries.channel_by_name(ORG, "pager").pk, self.channel.pk)
        with self.assertRaises(NotificationChannel.DoesNotExist):
            queries.channel_by_name(OTHER_ORG, "pager")


class UserProfileTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.now = timezone.now()
        cls.dave = make_profile("dave", email="Dave.Smith@Example.com",
                                last_seen_at=cls.now - timedelta(minutes=5))
        cls.erin = make_profile("erin", last_seen_at=cls.now - timedelta(hours=1))
        cls.frank = make_profile("frank", last_seen_at=cls.now - timedelta(days=30))
        cls.gina = make_profile("gina", org=OTHER_ORG, last_seen_at=cls.now)

    def test_profile_for_user(self) -> None:
        self.assertEqual(queries.profile_for_user(self.erin.user_id), self.erin)
        with self.assertRaises(UserProfile.DoesNotExist):
            queries.profile_for_user(0)

    def test_profile_by_pk(self) -> None:
        self.assertEqual(queries.profile_by_pk(self.frank.pk).display_name, "Frank")

    def test_profile_by_email_ignores_case(self) -> None:
        self.assertEqual(queries.profile_by_email("dave.smith@example.COM"), self.dave)
        self.assertIsNone(queries.profile_by_email("nobody@example.com"))

    def test_recently_seen(self) -> None:
        since = self.now - timedelta(days=1)
        self.assertEqual(queries.recently_seen(ORG, since), [self.dave, self.erin])
        self.assertEqual(queries.recently_seen(OTHER_ORG, since), [self.gina])


class IntegrationLogTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.now = timezone.now()
        entries = [
            # (organisation, integration, level, message, age)
            (ORG, "slack", "info", "message posted", timedelta(hours=1)),
            (ORG, "slack", "error", "Rate limited by Slack API", timedelta(hours=2)),
            (ORG, "github", "error", "token expired", timedelta(hours=3)),
            (ORG, "github", "error", "token expired", timedelta(hours=4)),
            (ORG, "datadog", "warning", "slow response from Datadog", timedelta(days=2)),
            (ORG, "slack", "error", "rate limited by slack api", timedelta(days=40)),
            (OTHER_ORG, "slack", "error", "rate limited", timedelta(hours=1)),
        ]
        cls.logs = IntegrationLog.objects.bulk_create(
            IntegrationLog(organisation=org, integration=integration, level=level,
                           message=message, created_at=cls.now - age)
            for org, integration, level, message, age in entries
        )

    def test_logs_for_organisation_window_newest_first(self) -> None:
        logs = queries.logs_for_organisation(ORG, self.now - timedelta(days=3), self.now)
        self.assertEqual([log.pk for log in logs], [log.pk for log in self.logs[:5]])
        page = queries.logs_for_organisation(ORG, self.now - timedelta(days=3), self.now, limit=2)
        self.assertEqual([log.pk for log in page], [log.pk for log in self.logs[:2]])

    def test_error_count_per_integration(self) -> None:
        counts = queries.error_count_per_integration(ORG, self.now - timedelta(days=1))
        self.assertEqual(counts, {"slack": 1, "github": 2})

    def test_logs_matching_is_case_insensitive_substring(self) -> None:
        found = queries.logs_matching(ORG, "RATE LIMITED")
        self.assertEqual([log.pk for log in found], [self.logs[1].pk, self.logs[5].pk])

    def test_purge_logs_before(self) -> None:
        self.assertEqual(queries.purge_logs_before(self.now - timedelta(days=30)), 1)
        self.assertEqual(IntegrationLog.objects.count(), len(self.logs) - 1)
        self.assertFalse(IntegrationLog.objects.filter(pk=self.logs[5].pk).exists())
