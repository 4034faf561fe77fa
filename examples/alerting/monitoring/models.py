"""Models of a small monitoring and alerting service.

Every table carries an ``organisation`` tenant id. The models deliberately declare no
``Meta.indexes`` and no extra ``db_index``: the only indexes are the ones Django creates on its
own (primary keys, foreign keys, the one-to-one's unique constraint). The queries in
``queries.py`` need more than that, which is what an index advisor should find.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class UserProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    # Tenant id of the organisation the user belongs to (organisations live in another service).
    organisation = models.PositiveIntegerField()
    email = models.EmailField()
    display_name = models.CharField(max_length=150)
    timezone = models.CharField(max_length=64, default="UTC")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    preferences = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>"


class NotificationChannel(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        WEBHOOK = "webhook", "Webhook"
        PAGERDUTY = "pagerduty", "PagerDuty"

    organisation = models.PositiveIntegerField()
    owner = models.ForeignKey(UserProfile, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EMAIL)
    target_url = models.URLField(max_length=500, blank=True)
    config = models.JSONField(default=dict, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertRule(models.Model):
    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    organisation = models.PositiveIntegerField()
    owner = models.ForeignKey(UserProfile, on_delete=models.CASCADE, related_name="rules")
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="rules"
    )
    name = models.CharField(max_length=200)
    expression = models.TextField(help_text="Query evaluated against the metrics store.")
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    is_active = models.BooleanField(default=True)
    evaluation_interval = models.PositiveIntegerField(default=60, help_text="Seconds.")
    next_evaluation_at = models.DateTimeField(default=timezone.now)
    last_triggered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned"

    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="deliveries"
    )
    rule = models.ForeignKey(
        AlertRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    payload = models.JSONField(default=dict)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"delivery {self.pk} to channel {self.channel_id}: {self.status}"


class IntegrationLog(models.Model):
    class Level(models.TextChoices):
        DEBUG = "debug", "Debug"
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    organisation = models.PositiveIntegerField()
    integration = models.CharField(max_length=32, help_text='e.g. "slack", "github", "datadog".')
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    context = models.JSONField(default=dict, blank=True)
    # Append-only: rows are inserted in time order, so created_at follows the primary key.
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"[{self.level}] {self.integration}: {self.message[:60]}"
