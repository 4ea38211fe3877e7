"""Endpoint writes and the actions on an endpoint (rotate its secret, ping it, re-send a
delivery). Each runs in the caller's transaction (the API view's); the cache of subscriptions
is refreshed after its commit."""

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connext.models import Organization
from webhooks import dispatch, outbox, subscriptions
from webhooks.models import EVENT_TYPES, Endpoint, WebhookDelivery
from webhooks.sender import Outcome, send_now
from webhooks.signing import new_secret

PREVIOUS_SECRET_SECONDS = 24 * 3600


def endpoint_create(
    *, organization: Organization, url: str, events: list[str] | None = None, active: bool = True
) -> Endpoint:
    """A new endpoint with a new secret; `events` default to every event type."""
    endpoint = Endpoint.objects.create(
        organization=organization, url=url, events=list(events or EVENT_TYPES), active=active, secret=new_secret()
    )
    subscriptions.changed()
    return endpoint


def endpoint_update(*, endpoint: Endpoint, **fields) -> Endpoint:
    """PATCH: url, events, active. Enabling an endpoint clears why it was disabled and its
    failing streak, and its pending events go out again."""
    enabling = fields.get("active") is True and not endpoint.active
    for name, value in fields.items():
        setattr(endpoint, name, value)
    if "active" in fields:
        endpoint.disabled_reason = ""
        endpoint.failing_since = None
    endpoint.save()
    subscriptions.changed()
    if enabling:  # what waited for the endpoint is due now, not at its next retry
        WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).update(
            next_attempt_at=timezone.now()
        )
        transaction.on_commit(lambda: dispatch.wake([endpoint.pk]), robust=True)
    return endpoint


def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Gone from the API at once; its rows stay for the purge (events being written for it
    right now must still find it)."""
    Endpoint.objects.filter(pk=endpoint.pk).update(active=False, deleted_at=timezone.now())
    subscriptions.changed()


def endpoint_rotate_secret(*, endpoint: Endpoint) -> Endpoint:
    """A new secret; the current one keeps signing beside it for 24 hours."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = timezone.now() + dt.timedelta(seconds=PREVIOUS_SECRET_SECONDS)
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["previous_secret", "previous_secret_until", "secret", "updated_at"])
    return endpoint


def endpoint_ping(*, endpoint: Endpoint) -> Outcome:
    """A signed `ping` event posted now (not stored, not retried), whatever the endpoint's state.
    Call outside a transaction, like delivery_retry."""
    body = outbox.event_body("ping", {"webhookId": endpoint.pk})
    return send_now(endpoint.url, dispatch.signer_for(endpoint), outbox.new_event_id(), body.encode())


def delivery_retry(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send one delivery again now, with its `webhook-id` and body; the attempt is counted and
    recorded. A success marks it delivered; a failure leaves its status (a pending one keeps its
    place in the retry schedule, a failed one stays failed). Call outside a transaction: the
    request may take the whole timeout."""
    endpoint = delivery.endpoint
    outcome = send_now(endpoint.url, dispatch.signer_for(endpoint), delivery.event_id, delivery.payload.encode())
    now = timezone.now()
    fields = {"attempts": F("attempts") + 1, "status_code": outcome.status_code, "updated_at": now}
    if outcome.ok:
        fields.update(status=WebhookDelivery.Status.DELIVERED, last_error="", next_attempt_at=None)
    else:
        fields["last_error"] = outcome.error[:2000]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    dispatch.note_health(endpoint, [outcome], now)
    delivery.refresh_from_db()
    return delivery
