"""The dispatcher against a loopback receiver that verifies signatures: retries under one
`webhook-id`, giving up, disabling an endpoint, the SSRF guard at connect time, and the
test/deliveries/retry actions."""

import datetime as dt
import json

from django.db import transaction
from django.utils import timezone

from connext import changes
from tests.factories import EndpointFactory
from webhooks import dispatch
from webhooks.models import Endpoint, WebhookDelivery


def announce_import(org, import_id=1):
    with transaction.atomic():
        changes.announce([changes.ImportFinished(org.pk, import_id, "done", 1, 1, 0, 0)])


def endpoint_for(org, receiver, **fields) -> Endpoint:
    url, stub = receiver
    endpoint = EndpointFactory(organization=org, **{"url": url, **fields})
    stub.secrets.append(endpoint.secret)
    return endpoint


def test_a_failing_event_is_retried_under_one_webhook_id_until_it_arrives(org, receiver, settings, drain_until):
    settings.WEBHOOK_RETRY_SCHEDULE = [0.05, 0.05, 0.05]
    _, stub = receiver
    stub.fail_first = 2
    endpoint = endpoint_for(org, receiver)
    announce_import(org)
    drain_until(endpoint.pk, lambda: stub.events)
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempts, row.status_code) == ("delivered", 3, 204)
    assert stub.attempts == {row.event_id: 3}  # every attempt carried the same webhook-id
    assert stub.unverified == 0


def test_an_event_is_given_up_after_the_last_retry(org, receiver, settings, drain_until):
    settings.WEBHOOK_RETRY_SCHEDULE = [0.05, 0.05]
    _, stub = receiver
    stub.fail_first = 100
    endpoint = endpoint_for(org, receiver)
    announce_import(org)
    drain_until(endpoint.pk, lambda: WebhookDelivery.objects.filter(status="failed").exists())
    row = WebhookDelivery.objects.get()
    assert row.attempts == 3 and row.status_code == 500 and "HTTP 500" in row.last_error
    assert row.next_attempt_at is None


def test_a_410_disables_the_endpoint_at_once_and_patch_enables_it_again(api, org, admin_user, receiver, drain_until):
    _, stub = receiver
    stub.status = 410
    endpoint = endpoint_for(org, receiver)
    announce_import(org)
    drain_until(endpoint.pk, lambda: stub.requests)
    shown = api.get(f"/api/v1/webhooks/{endpoint.pk}").json()
    assert shown["active"] == 0 and "410" in shown["disabledReason"]
    announce_import(org, 2)  # a disabled endpoint gets no new events
    assert WebhookDelivery.objects.count() == 1
    stub.status = None
    response = api.patch(f"/api/v1/webhooks/{endpoint.pk}", {"active": True})
    assert response.json()["active"] == 1 and response.json()["disabledReason"] is None
    drain_until(endpoint.pk, lambda: stub.events)  # the pending event goes out after all


def test_an_endpoint_failing_for_the_whole_window_is_disabled_with_the_reason(org, receiver, settings,
                                                                               drain_until):  # fmt: skip
    settings.WEBHOOK_RETRY_SCHEDULE = [0.05] * 50
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0.3
    _, stub = receiver
    stub.fail_first = 1000
    endpoint = endpoint_for(org, receiver)
    announce_import(org)
    drain_until(endpoint.pk, lambda: not Endpoint.objects.get(pk=endpoint.pk).active)
    endpoint.refresh_from_db()
    assert "failed" in endpoint.disabled_reason
    assert WebhookDelivery.objects.get().status == "pending"  # kept for when it is enabled again


def test_both_secrets_sign_after_a_rotation(api, org, receiver, drain_until):
    _, stub = receiver
    endpoint = endpoint_for(org, receiver)
    old = stub.secrets.pop()
    new = api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret").json()["secret"]
    stub.secrets[:] = [old]  # a receiver not yet switched
    announce_import(org, 1)
    drain_until(endpoint.pk, lambda: len(stub.events) == 1)
    stub.secrets[:] = [new]  # and one switched
    announce_import(org, 2)
    drain_until(endpoint.pk, lambda: len(stub.events) == 2)
    assert stub.unverified == 0
    assert len(stub.headers_seen[-1]["webhook-signature"].split(" ")) == 2


def test_private_addresses_are_refused_at_connect_time(org, receiver, settings, drain_until):
    """Saved while allowed (or a name that resolved elsewhere then): the connection is refused
    when the name now resolves to loopback, and nothing reaches the receiver."""
    url, stub = receiver
    endpoint = endpoint_for(org, receiver, url=url.replace("127.0.0.1", "localhost"))
    settings.ALLOW_PRIVATE_URLS = False
    announce_import(org)
    drain_until(endpoint.pk, lambda: WebhookDelivery.objects.filter(attempts=1).exists())
    row = WebhookDelivery.objects.get()
    assert row.status == "pending" and "private" in row.last_error
    assert stub.requests == 0


def test_redirects_are_not_followed(org, receiver, drain_until):
    _, stub = receiver
    stub.status = 302
    endpoint = endpoint_for(org, receiver)
    announce_import(org)
    drain_until(endpoint.pk, lambda: WebhookDelivery.objects.filter(attempts=1).exists())
    row = WebhookDelivery.objects.get()
    assert row.status == "pending" and row.status_code == 302 and stub.requests == 1


def test_test_sends_a_signed_ping(api, subscribe, receiver):
    _, stub = receiver
    endpoint = subscribe()
    response = api.post(f"/api/v1/webhooks/{endpoint['id']}/test")
    assert response.status_code == 200
    assert response.json() == {"delivered": 1, "statusCode": 204, "error": ""}
    [ping] = stub.events
    assert ping["type"] == "ping" and stub.unverified == 0
    stub.status = 503
    assert api.post(f"/api/v1/webhooks/{endpoint['id']}/test").json()["delivered"] == 0


def test_deliveries_are_listed_filtered_and_retried_now(api, org, other_api, subscribe, receiver, settings,
                                                        drain_until):  # fmt: skip
    settings.WEBHOOK_RETRY_SCHEDULE = [3600]
    _, stub = receiver
    stub.fail_first = 1
    endpoint = subscribe(["import.finished"])
    announce_import(org)
    drain_until(endpoint["id"], lambda: stub.requests == 1)
    path = f"/api/v1/webhooks/{endpoint['id']}/deliveries"
    [row] = api.get(path).json()
    assert row["event"] == "import.finished" and row["status"] == "pending" and row["attempts"] == 1
    assert row["statusCode"] == 500 and row["nextRetryAt"] and row["eventId"].startswith("msg_")
    assert "HTTP 500" in row["lastError"]
    assert api.get(path, {"status": "delivered"}).json() == []
    assert api.get(path, {"status": "lost"}).status_code == 400
    assert other_api.get(path).status_code == 404
    assert other_api.post(f"{path}/{row['id']}/retry").status_code == 404
    retried = api.post(f"{path}/{row['id']}/retry")
    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] == "delivered" and retried.json()["attempts"] == 2
    assert [json.loads(WebhookDelivery.objects.get().payload)] == stub.events
    assert stub.attempts == {row["eventId"]: 2}


def test_one_dispatcher_per_endpoint_and_old_deliveries_are_purged(org, settings):
    endpoint = EndpointFactory(organization=org)
    announce_import(org, 1)
    announce_import(org, 2)
    Endpoint.objects.filter(pk=endpoint.pk).update(drain_lease_until=timezone.now() + dt.timedelta(seconds=30))
    assert dispatch.drain(endpoint.pk) == "busy"  # another dispatcher holds it: nothing sent twice
    assert WebhookDelivery.objects.filter(attempts=0).count() == 2
    old, young = WebhookDelivery.objects.order_by("id")
    WebhookDelivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    settings.WEBHOOK_RETENTION_DAYS = 30
    assert dispatch.purge() == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [young.pk]
