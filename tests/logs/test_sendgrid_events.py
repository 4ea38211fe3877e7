"""POST /hooks/sendgrid/events: SendGrid's signed event webhook, a JSON array of email events."""

import datetime as dt
import json
import time
import uuid

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from logs.models import Click, Delivery
from subscribers.models import BlocklistEntry
from tests.factories import DeliveryFactory, SubscriberFactory
from tests.signing import SENDGRID_PUBLIC_KEY, new_sendgrid_key, sendgrid_headers, sendgrid_post
from tests.writes import nothing_written

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sendgrid_settings")]

PATH = "/hooks/sendgrid/events"
ADA = "ada@example.com"
T0 = 1_760_000_000  # event time (unix seconds)


@pytest.fixture
def sendgrid_settings():
    with override_settings(SENDGRID_WEBHOOK_PUBLIC_KEY=SENDGRID_PUBLIC_KEY):
        yield


def email(org, recipient=ADA, *, status="sent", x_message_id=None) -> Delivery:
    """An email `org` handed to SendGrid (its X-Message-Id the provider id)."""
    return DeliveryFactory(message__organization=org, message__types=["email"], channel="email", recipient=recipient,
                           status=status, provider="sendgrid", provider_id=x_message_id or uuid.uuid4().hex[:22],
                           sent_at=timezone.now())  # fmt: skip


def event(d, kind, at=T0, **fields):
    """One event as SendGrid posts it: custom args at the top level, sg_event_id unique."""
    return {"email": d.recipient, "timestamp": at, "event": kind, "sg_event_id": uuid.uuid4().hex,
            "sg_message_id": f"{d.provider_id}.recvd-5f4d9d6c-1-2-0", "delivery_id": str(d.pk),
            **fields}  # fmt: skip


signed = sendgrid_headers
post = sendgrid_post


def row(d) -> Delivery:
    return Delivery.objects.get(pk=d.pk)


def test_delivered_records_the_event_time(client, org):
    d = email(org)
    assert post(client, [event(d, "processed"), event(d, "delivered", at=T0 + 5)]).status_code == 204
    delivered = row(d)
    assert delivered.status == "delivered" and delivered.delivered_at == dt.datetime.fromtimestamp(T0 + 5, dt.UTC)
    post(client, [event(d, "delivered", at=T0 + 60)])  # a duplicate keeps the first time
    assert row(d).delivered_at == delivered.delivered_at


def test_a_hard_bounce_fails_and_blocks_the_address(client, api, org):
    SubscriberFactory(organization=org, first="Ada", phone="", email=ADA)
    d = email(org)
    assert api.get("/api/v1/subscribers").json()[0]["emailBlocked"] == 0
    bounce = event(d, "bounce", type="bounce", status="5.1.1", reason="550 5.1.1 The email account does not exist")
    post(client, [bounce])
    failed = row(d)
    assert (failed.status, failed.error_code) == ("failed", "5.1.1") and "does not exist" in failed.error_message
    assert api.get("/api/v1/subscribers").json()[0]["emailBlocked"] == 1
    assert [(r["recipient"], r["reason"]) for r in api.get("/api/v1/blocklist").json()] == [(ADA, "bounce")]


def test_a_blocked_bounce_fails_without_blocking(client, org):
    d = email(org)
    post(client, [event(d, "bounce", type="blocked", status="4.0.0", reason="IP address reputation")])
    assert row(d).status == "failed" and not BlocklistEntry.objects.exists()


def test_dropped_for_a_bounced_address_blocks_it(client, org):
    d, other = email(org), email(org, "bob@example.com")
    post(client, [event(d, "dropped", reason="Bounced Address"), event(other, "dropped", reason="Spam Content")])
    assert (row(d).status, row(d).error_code, row(d).error_message) == ("failed", "dropped", "Bounced Address")
    assert row(other).status == "failed"
    assert list(BlocklistEntry.objects.values_list("recipient", "reason")) == [(ADA, "bounce")]


def test_spam_reports_and_unsubscribes_block_the_address(client, org, other_org):
    d = email(org)
    theirs = email(other_org, "bob@example.com")
    mine_too = email(org, "cy@example.com")
    post(client, [event(d, "spamreport"), event(theirs, "unsubscribe"), event(mine_too, "group_unsubscribe")])
    entries = set(BlocklistEntry.objects.values_list("organization_id", "recipient", "reason"))
    assert entries == {(org.pk, ADA, "complaint"), (other_org.pk, "bob@example.com", "stop"),
                       (org.pk, "cy@example.com", "stop")}  # fmt: skip
    assert row(d).status == "sent"  # an opinion about the mail, not its delivery


def test_out_of_order_keeps_the_furthest_status(client, org):
    d = email(org, status="sending")
    post(client, [event(d, "delivered", at=T0 + 10)])
    post(client, [event(d, "bounce", at=T0 + 20, status="5.0.0", reason="late bounce")])  # async bounce
    assert row(d).status == "delivered" and row(d).error_code == ""
    assert BlocklistEntry.objects.filter(recipient=ADA, reason="bounce").exists()  # the address is dead now


def test_clicks_are_counted_once_per_event(client, api, org):
    d = email(org)
    click = event(d, "click", url="https://acme.example/menu", ip="203.0.113.9", useragent="Mozilla/5.0")
    batch = [click, event(d, "open"), event(d, "click", url="https://acme.example/menu")]
    assert post(client, batch).status_code == 204
    assert post(client, batch).status_code == 204  # SendGrid retried the whole batch
    assert row(d).clicks == 2
    clicks = Click.objects.filter(delivery=d).order_by("id")
    assert [(c.link_id, c.url) for c in clicks] == [(None, "https://acme.example/menu")] * 2
    assert (clicks[0].ip, clicks[0].user_agent) == ("203.0.113.9", "Mozilla/5.0")
    post(client, [event(d, "click", url="https://acme.example/menu")])  # a new click
    assert row(d).clicks == 3


def test_a_nul_character_in_one_event_does_not_lose_the_batch(client, org):
    d, other = email(org), email(org, "bob@example.com")
    batch = [
        event(d, "click", url="https://acme.example/\x00menu"),
        event(other, "bounce", reason="550\x00 no such user"),
    ]
    assert post(client, batch).status_code == 204
    assert row(d).clicks == 1 and Click.objects.get().url == "https://acme.example/menu"
    assert (row(other).status, row(other).error_message) == ("failed", "550 no such user")


def test_a_click_repeated_within_one_batch_or_after_a_cache_flush_counts_once(client, api, org):
    d = email(org)
    click = event(d, "click", url="https://acme.example/menu")
    assert post(client, [click, click]).status_code == 204
    cache.clear()  # Redis restarted without persistence: the database still knows the event
    assert post(client, [click]).status_code == 204
    assert row(d).clicks == 1
    assert api.get(f"/api/v1/logs/{d.message_id}/stats").json()["clicks"] == 1


def test_the_message_id_finds_a_delivery_without_the_custom_arg(client, org):
    # Our provider id is the X-Message-Id of the send: sg_message_id up to its first dot.
    d = email(org, x_message_id="14c5d75ce93dfd64b469")
    e = event(d, "delivered", sg_message_id="14c5d75ce93dfd64b469.filter0001.16648.5515E0B88.0")
    del e["delivery_id"]
    post(client, [e])
    assert row(d).status == "delivered"


def test_unknown_deliveries_and_events_are_ignored(client, org):
    d = email(org)
    ghost = event(d, "delivered", delivery_id="999999")
    with nothing_written(Delivery, Click, BlocklistEntry):
        response = post(client, [ghost, event(d, "deferred"), event(d, "something_new"), "not an event", {}])
    assert response.status_code == 204


def test_bad_or_missing_signature_is_403_and_changes_nothing(client, org):
    d = email(org)
    body = json.dumps([event(d, "delivered"), event(d, "click", url="https://acme.example/menu"),
                       event(d, "spamreport")]).encode()  # fmt: skip
    headers = signed(body)
    with nothing_written(Delivery, Click, BlocklistEntry):
        assert client.post(PATH, body, content_type="application/json").status_code == 403
        forged = client.post(PATH, body, content_type="application/json", **signed(body, new_sendgrid_key()))
        assert forged.status_code == 403 and forged.json()["message"]
        tampered = body.replace(b"delivered", b"bounce")
        assert client.post(PATH, tampered, content_type="application/json", **headers).status_code == 403
        other_time = {**headers, "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": "1"}  # the timestamp is signed too
        assert client.post(PATH, body, content_type="application/json", **other_time).status_code == 403
        garbage = {**headers, "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": "not base64!"}
        assert client.post(PATH, body, content_type="application/json", **garbage).status_code == 403


@pytest.mark.parametrize(("minutes", "status"), [(-11, 403), (-9, 204), (9, 204), (11, 403)])
def test_a_signature_more_than_ten_minutes_from_now_is_refused(client, org, minutes, status):
    """A captured batch, validly signed, cannot be replayed later (nor one stamped in the future)."""
    d = email(org)
    stamp = str(int(time.time()) + minutes * 60)
    events = [event(d, "click", url="https://acme.example/menu"), event(d, "spamreport")]
    if status == 403:
        with nothing_written(Delivery, Click, BlocklistEntry):
            response = post(client, events, timestamp=stamp)
        assert response.json()["message"]
    else:
        response = post(client, events, timestamp=stamp)
        assert Click.objects.filter(delivery=d).count() == 1
    assert response.status_code == status


def test_no_public_key_configured_refuses_everything(client, org):
    d = email(org)
    with override_settings(SENDGRID_WEBHOOK_PUBLIC_KEY=""), nothing_written(Delivery, Click, BlocklistEntry):
        assert post(client, [event(d, "delivered"), event(d, "click"), event(d, "spamreport")]).status_code == 403


def test_a_body_that_is_not_an_array_is_400(client, org):
    d = email(org)
    body = b"{not json"
    with nothing_written(Delivery, Click, BlocklistEntry):
        assert client.post(PATH, body, content_type="application/json", **signed(body)).status_code == 400
        assert post(client, event(d, "spamreport")).status_code == 400  # one event, not a batch of them
        assert client.get(PATH).status_code == 405
