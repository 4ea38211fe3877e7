"""Twilio's hooks for WhatsApp and RCS: inbound WhatsApp messages (replies, STOP/START/HELP, the
24-hour session window), and RCS status callbacks that say the send fell back to SMS."""

import datetime as dt

import pytest
from django.utils import timezone

from logs.inbound import open_sessions
from logs.models import ChannelSession, Delivery, Reply
from subscribers.models import BlocklistEntry
from tests.factories import DeliveryFactory, SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio")]

ADA = "+12025550101"
SID = "SM" + "c" * 32


def sent(org, channel: str, **fields) -> Delivery:
    at = timezone.now() - dt.timedelta(minutes=5)
    return DeliveryFactory(message__organization=org, message__types=[channel], channel=channel, recipient=ADA,
                           status="sent", provider="twilio", provider_id=SID, sent_at=at, **fields)  # fmt: skip


def whatsapp_in(twilio, body, sid):
    params = {"MessageSid": sid, "From": f"whatsapp:{ADA}", "To": "whatsapp:+14155238886", "Body": body}
    return twilio.post("/hooks/twilio/inbound", params)


def test_a_whatsapp_reply_is_stored_on_its_delivery_and_opens_the_session(twilio, org):
    delivery = sent(org, "whatsapp")
    assert open_sessions("whatsapp", [ADA]) == set()
    assert whatsapp_in(twilio, "Yes please", "SM" + "1" * 32).status_code == 200
    reply = Reply.objects.get()
    assert (reply.delivery_id, reply.from_number, reply.body) == (delivery.pk, ADA, "Yes please")
    assert open_sessions("whatsapp", [ADA]) == {ADA}
    # 24 hours later the window is closed again.
    ChannelSession.objects.update(last_inbound_at=timezone.now() - dt.timedelta(hours=24, minutes=1))
    assert open_sessions("whatsapp", [ADA]) == set()


def test_whatsapp_stop_and_start_use_the_blocklist_like_sms(twilio, org):
    SubscriberFactory(organization=org, phone=ADA)
    sent(org, "whatsapp")
    whatsapp_in(twilio, "STOP", "SM" + "2" * 32)
    assert BlocklistEntry.objects.get(organization=org, recipient=ADA).reason == "stop"
    whatsapp_in(twilio, "start", "SM" + "3" * 32)
    assert not BlocklistEntry.objects.filter(organization=org, recipient=ADA).exists()
    help_text = whatsapp_in(twilio, "HELP", "SM" + "4" * 32)
    assert b"reply STOP to unsubscribe" in help_text.content


def rcs_status(twilio, delivery, status, sender):
    params = {"MessageSid": SID, "MessageStatus": status, "From": sender, "To": ADA}
    return twilio.post(f"/hooks/twilio/status?d={delivery.pk}&k=rcs", params)


def test_an_rcs_send_that_fell_back_to_sms_is_recorded_and_counted(twilio, org, api):
    fell_back, rich = sent(org, "rcs"), None
    rich = DeliveryFactory(message=fell_back.message, channel="rcs", recipient="+12025550102", status="sent",
                           provider="twilio", provider_id="SM" + "d" * 32)  # fmt: skip
    assert rcs_status(twilio, fell_back, "delivered", "+15005550006").status_code == 204
    params = {"MessageSid": "SM" + "d" * 32, "MessageStatus": "delivered", "From": "rcs:connext_agent", "To": ""}
    assert twilio.post(f"/hooks/twilio/status?d={rich.pk}&k=rcs", params).status_code == 204

    fell_back.refresh_from_db()
    rich.refresh_from_db()
    assert (fell_back.status, fell_back.fallback) == ("delivered", "sms")
    assert (rich.status, rich.fallback) == ("delivered", "")
    stats = api.get(f"/api/v1/logs/{fell_back.message_id}/stats").json()
    assert stats["fallbacks"] == {"sms": 1} and stats["statuses"]["delivered"] == 2
    rows = {row["recipient"]: row["fallback"] for row in api.get(f"/api/v1/logs/{fell_back.message_id}").json()}
    assert rows == {ADA: "sms", "+12025550102": ""}


def test_an_sms_status_never_reads_as_a_fallback(twilio, org):
    delivery = sent(org, "sms")
    params = {"MessageSid": SID, "MessageStatus": "delivered", "From": "+15005550006", "To": ADA}
    assert twilio.post(f"/hooks/twilio/status?d={delivery.pk}", params).status_code == 204
    delivery.refresh_from_db()
    assert (delivery.status, delivery.fallback) == ("delivered", "")
