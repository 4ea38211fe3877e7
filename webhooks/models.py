"""Webhook endpoints (an organization's URLs and the events each wants) and the outbox: one
`WebhookDelivery` row per event and endpoint, written in the transaction of the change that
caused it, then sent (and retried) by the dispatchers until it is delivered or given up."""

from django.db import models
from django.db.models import Q

EVENT_TYPES = (
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.replied",
    "link.clicked",
    "subscriber.optout",
    "import.finished",
    "schedule.fired",
)


class EndpointQuerySet(models.QuerySet):
    def live(self):
        """Endpoints not deleted (deleted ones are kept a while: their outbox rows point at them)."""
        return self.filter(deleted_at=None)


class Endpoint(models.Model):
    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="webhooks")
    url = models.CharField(max_length=2048)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    # The `whsec_` secret signs every request; after a rotation the previous one signs too, until
    # `previous_secret_until`, so receivers can switch without losing a request.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # Since when every attempt failed (none since succeeded); past WEBHOOK_DISABLE_AFTER_SECONDS
    # the endpoint is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    # One dispatcher drains an endpoint at a time (its lease): per-endpoint concurrency and order.
    drain_lease_until = models.DateTimeField(null=True, blank=True)
    # DELETE hides the endpoint at once; the row goes with the purge of its outbox rows.
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=["organization", "id"], name="webhook_endpoint_org")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: its body (fixed at creation: every retry sends the same bytes
    under the same `event_id`, the `webhook-id`), and where its attempts stand."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # every retry of the schedule failed

    # No index of its own: the indexes below start with it (every index costs each UPDATE). No
    # database constraint either: its check is a deferred trigger that locks the endpoint's row
    # (FOR KEY SHARE) at the commit of every callback that writes an event, and concurrent
    # callbacks sharing that lock turn it into a multixact. An endpoint is only ever deleted by the
    # purge, WEBHOOK_RETENTION_DAYS after its DELETE hid it, once it has no rows left.
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False
    )
    event_type = models.CharField(max_length=40)
    event_id = models.CharField(max_length=40)
    payload = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # pending: when it is due
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhooks_delivery"
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        # Few indexes: every event row is inserted inside the transaction of a provider callback.
        indexes = [
            # The claim (and the sweeper's check for due rows): an endpoint's pending rows, oldest first.
            models.Index(fields=["endpoint", "id"], condition=Q(status="pending"), name="webhook_delivery_claim"),
            # GET /webhooks/{id}/deliveries, newest first.
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_list"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
