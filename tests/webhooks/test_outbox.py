"""The outbox: a committed change always has its event rows, a rolled-back one never; each
kind of change makes its event, for the endpoints subscribed to it only."""

import datetime as dt
import json

import pytest
from django.db import transaction
from django.utils import timezone

from connext import changes
from tests.conftest import SQLITE
from tests.factories import DeliveryFactory, EndpointFactory, MessageFactory
from tests.signing import twilio_hooks
from webhooks import outbox
from webhooks.models import WebhookDelivery

BLASTS = "/api/v1/blasts"


def bodies(event_type=None) -> list[dict]:
    rows = WebhookDelivery.objects.order_by("id")
    if event_type:
        rows = rows.filter(event_type=event_type)
    return [json.loads(row.payload) for row in rows]


def test_a_blast_streams_signed_sent_and_delivered_events_to_the_receiver(api, audience, run_jobs, subscribe,
                                                                          receiver):  # fmt: skip
    _, stub = receiver
    subscribe(["message.sent", "message.delivered"])
    response = run_jobs(api.post, BLASTS, {"types": ["sms"], "groups": [1], "message": "Hi", "externalId": "crm-7"})
    assert response.status_code == 200, response.content
    log_id = response.json()["id"]
    recipients = {"+12025550101", "+12025550102", "+12025550103", "+12025550107"}
    for event_type in ("message.sent", "message.delivered"):
        events = stub.of_type(event_type)
        assert {e["data"]["recipient"] for e in events} == recipients
        data = events[0]["data"]
        assert data["logId"] == log_id and data["externalId"] == "crm-7" and data["channel"] == "sms"
        assert data["status"] == event_type.split(".")[1] and isinstance(data["deliveryId"], int)
    assert stub.unverified == 0
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_an_event_is_written_with_its_change_or_not_at_all(org):
    EndpointFactory(organization=org)
    delivery = DeliveryFactory(message=MessageFactory(organization=org))
    change = changes.DeliveryStatusChanged(delivery.pk, delivery.message_id, "sms", delivery.recipient, "failed",
                                           error_code="30003", error_message="Unreachable")  # fmt: skip
    with pytest.raises(RuntimeError), transaction.atomic():
        changes.announce([change])
        raise RuntimeError("the change rolls back")
    assert not WebhookDelivery.objects.exists()
    with transaction.atomic():
        changes.announce([change])
    [body] = bodies()
    assert body["type"] == "message.failed"
    assert body["data"]["error"] == {"code": "30003", "message": "Unreachable"}


def test_only_subscribed_endpoints_of_the_organization_get_the_event(org, other_org):
    wants = EndpointFactory(organization=org, events=["message.delivered"])
    EndpointFactory(organization=org, events=["message.sent"])
    EndpointFactory(organization=org, events=["message.delivered"], active=False)
    EndpointFactory(organization=other_org)
    delivery = DeliveryFactory(message=MessageFactory(organization=org))
    changes.announce([
        changes.DeliveryStatusChanged(delivery.pk, delivery.message_id, "sms", delivery.recipient, status)
        for status in ("sending", "delivered")
    ])  # fmt: skip
    assert list(WebhookDelivery.objects.values_list("endpoint_id", "event_type")) == [(wants.pk, "message.delivered")]


def test_no_endpoint_means_no_row(org):
    delivery = DeliveryFactory(message=MessageFactory(organization=org))
    changes.announce([changes.DeliveryStatusChanged(delivery.pk, delivery.message_id, "sms", "+1", "sent")])
    assert not WebhookDelivery.objects.exists()


def test_opt_outs_replies_clicks_imports_and_schedules_make_their_events(org):
    EndpointFactory(organization=org)
    delivery = DeliveryFactory(message=MessageFactory(organization=org, external_id="ext-1"))
    fired = timezone.now() - dt.timedelta(seconds=3)
    changes.announce([
        changes.BlocklistChanged(org.pk, "+12025550199", "stop", blocked=True),
        changes.BlocklistChanged(org.pk, "+12025550198", "manual", blocked=True),  # not an opt-out
        changes.BlocklistChanged(org.pk, "+12025550197", "stop", blocked=False),  # opted back in
        changes.ReplyReceived(41, org.pk, delivery.pk, delivery.recipient, "Yes please"),
        changes.DeliveryClicked(delivery.pk, "https://example.com/offer", fired),
        changes.ImportFinished(org.pk, 9, "done", total=10, created=7, updated=2, skipped=1),
        changes.ScheduleFired(org.pk, 5, delivery.message_id, fired, recipients=120),
    ])  # fmt: skip
    by_type = {body["type"]: body["data"] for body in bodies()}
    assert sorted(by_type) == ["import.finished", "link.clicked", "message.replied", "schedule.fired",
                               "subscriber.optout"]  # fmt: skip
    assert by_type["subscriber.optout"] == {"recipient": "+12025550199", "reason": "stop"}
    assert by_type["message.replied"]["logId"] == delivery.message_id
    assert by_type["message.replied"]["body"] == "Yes please" and by_type["message.replied"]["externalId"] == "ext-1"
    assert by_type["link.clicked"]["url"] == "https://example.com/offer"
    assert by_type["link.clicked"]["deliveryId"] == delivery.pk
    assert by_type["import.finished"] == {"importId": 9, "status": "done", "total": 10, "created": 7, "updated": 2,
                                          "skipped": 1}  # fmt: skip
    assert by_type["schedule.fired"]["scheduleId"] == 5 and by_type["schedule.fired"]["recipients"] == 120


def test_an_import_announces_its_end(api, org, run_jobs, monkeypatch):
    EndpointFactory(organization=org, events=["import.finished"])
    response = run_jobs(api.post, "/api/v1/subscribers/imports", {"subscribers": [{"phone": "+12025550123"}]})
    assert response.status_code == 202, response.content
    [body] = bodies("import.finished")
    assert body["data"]["importId"] == response.json()["id"]
    assert body["data"]["status"] == "done" and body["data"]["created"] == 1


@pytest.mark.skipif(SQLITE, reason="the events go in the callback's own statement on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_status_callback_writes_its_events_in_its_own_statement_like_any_other_change(org, client):
    """A status callback runs in autocommit: its UPDATE and its events are one statement, one
    commit. The rows are those `record` writes for the same change (same endpoints, same body)."""
    sent_too = EndpointFactory(organization=org, events=["message.sent", "message.failed"])
    failed_only = EndpointFactory(organization=org, events=["message.failed"])
    EndpointFactory(organization=org, events=["message.failed"], active=False)
    delivery = DeliveryFactory(message=MessageFactory(organization=org, external_id="crm-9"), status="sending")
    sid = "SM" + "2" * 32
    with twilio_hooks(client) as twilio:
        for params in ({"MessageStatus": "sent"}, {"MessageStatus": "failed", "ErrorCode": "30003"}):
            assert (
                twilio.post(f"/hooks/twilio/status?d={delivery.pk}", {"MessageSid": sid, **params}).status_code == 204
            )

    rows = list(WebhookDelivery.objects.order_by("id").values_list("endpoint_id", "event_type", "event_id", "payload"))
    assert [(endpoint, event) for endpoint, event, _, _ in rows] == [
        (sent_too.pk, "message.sent"), (sent_too.pk, "message.failed"), (failed_only.pk, "message.failed"),
    ]  # fmt: skip
    assert rows[1][2] == rows[2][2] != rows[0][2]  # one webhook-id per event, shared by its endpoints
    delivery.refresh_from_db()
    change = changes.DeliveryStatusChanged(delivery.pk, delivery.message_id, "sms", delivery.recipient, "failed",
                                           "twilio", sid, delivery.error_code, delivery.error_message)  # fmt: skip
    body = json.loads(rows[1][3])
    assert body["type"] == "message.failed" and body["data"] == outbox._message_data(change, "crm-9")
    assert body["data"]["error"]["code"] == "30003" and body["data"]["externalId"] == "crm-9"
    stamp = dt.datetime.fromisoformat(body["timestamp"])
    assert stamp.tzinfo is not None and abs(timezone.now() - stamp) < dt.timedelta(minutes=1)
