"""POST /hooks/twilio/status: Twilio-signed message and call statuses move deliveries forward only."""

from urllib.parse import urlencode

import pytest
from django.test import override_settings
from django.utils import timezone

from logs.models import Delivery, Message
from subscribers.models import BlocklistEntry
from tests.signing import FORM, twilio_post, twilio_signature

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio_settings")]

TOKEN = "status-hook-token"
BASE = "https://cnxt.example"
SID = "SM" + "a" * 32
CALL_SID = "CA" + "b" * 32


@pytest.fixture
def twilio_settings():
    with override_settings(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=BASE):
        yield


def delivery(org, *, channel="sms", recipient="+12025550101", status="sent", provider_id=SID, **kwargs):
    msg = Message.objects.create(organization=org, types=[channel], message="Hi", fanned_out_at=timezone.now())
    return Delivery.objects.create(
        message=msg, channel=channel, recipient=recipient, status=status, provider="twilio" if provider_id else "",
        provider_id=provider_id, **kwargs,
    )  # fmt: skip


def signed_post(client, path, params, token=TOKEN):
    return twilio_post(client, BASE + path, params, token)


def message_status(client, pk, status, sid=SID, **extra):
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
              "SmsStatus": status, "From": "+15005550006", "To": "+12025550101", **extra}  # fmt: skip
    path = "/hooks/twilio/status" if pk is None else f"/hooks/twilio/status?d={pk}"
    return signed_post(client, path, params)


def call_status(client, pk, status, sid=CALL_SID):
    params = {"CallSid": sid, "CallStatus": status, "From": "+15005550006", "To": "+12025550101"}
    return signed_post(client, f"/hooks/twilio/status?d={pk}", params)


def row(pk) -> Delivery:
    return Delivery.objects.get(pk=pk)


def test_sent_then_delivered_records_the_first_time_of_each(client, org):
    d = delivery(org, status="sending", provider_id="")
    assert message_status(client, d.pk, "sent").status_code == 204
    sent = row(d.pk)
    assert sent.status == "sent" and sent.sent_at and sent.delivered_at is None
    assert sent.provider == "twilio" and sent.provider_id == SID  # the callback overtook our own record_sent
    assert message_status(client, d.pk, "delivered", ErrorCode="").status_code == 204  # blank values are signed
    delivered = row(d.pk)
    assert delivered.status == "delivered" and delivered.sent_at == sent.sent_at and delivered.delivered_at
    assert message_status(client, d.pk, "delivered").status_code == 204  # Twilio retried
    assert row(d.pk).delivered_at == delivered.delivered_at


def test_out_of_order_keeps_the_furthest_status(client, org):
    d = delivery(org)
    message_status(client, d.pk, "delivered")
    first = row(d.pk)
    assert message_status(client, d.pk, "sent").status_code == 204  # late
    assert message_status(client, d.pk, "undelivered", ErrorCode="30003").status_code == 204  # after delivered
    later = row(d.pk)
    assert later.status == "delivered" and later.error_code == "" and later.delivered_at == first.delivered_at


def test_undelivered_is_failed_with_twilios_error(client, org):
    d = delivery(org)
    assert message_status(client, d.pk, "undelivered", ErrorCode="30003").status_code == 204
    failed = row(d.pk)
    assert (failed.status, failed.error_code, failed.error_message) == (
        "failed",
        "30003",
        "Unreachable destination handset",
    )
    message_status(client, d.pk, "delivered")  # a terminal status stays
    assert row(d.pk).status == "failed"


def test_nul_characters_and_endless_error_messages_are_stored_tamed(client, org):
    d = delivery(org)
    response = message_status(client, d.pk, "undelivered", ErrorCode="300\x0003", ErrorMessage="x" * 5000)
    assert response.status_code == 204
    failed = row(d.pk)
    assert (failed.status, failed.error_code, failed.error_message) == ("failed", "30003", "x" * 500)


def test_failed_without_a_code_names_the_status(client, org):
    d = delivery(org)
    message_status(client, d.pk, "failed")
    assert (row(d.pk).error_code, row(d.pk).status) == ("failed", "failed")


def test_queued_and_accepted_change_nothing(client, org):
    d = delivery(org, status="sending", provider_id="")
    for status in ("queued", "accepted"):
        assert message_status(client, d.pk, status).status_code == 204
    assert row(d.pk).status == "sending" and row(d.pk).provider_id == ""


def test_a_known_provider_id_is_not_overwritten(client, org):
    d = delivery(org, provider_id="SM-ours")
    message_status(client, d.pk, "delivered", sid="SM-theirs")
    assert row(d.pk).provider_id == "SM-ours" and row(d.pk).status == "delivered"


def test_without_a_delivery_id_the_message_sid_finds_it(client, org):
    d = delivery(org)
    other = delivery(org, recipient="+12025550102", provider_id="SM" + "c" * 32)
    assert message_status(client, None, "delivered").status_code == 204
    assert row(d.pk).status == "delivered" and row(other.pk).status == "sent"


def test_unknown_delivery_is_acknowledged(client, org):
    assert message_status(client, 999_999, "delivered").status_code == 204
    assert message_status(client, None, "delivered", sid="SM-nobody").status_code == 204


def test_call_progress(client, org):
    d = delivery(org, channel="voice", status="sending", provider_id=CALL_SID)
    call_status(client, d.pk, "ringing")
    assert row(d.pk).status == "sent"
    call_status(client, d.pk, "in-progress")
    call_status(client, d.pk, "completed")
    assert row(d.pk).status == "delivered" and row(d.pk).delivered_at


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_unanswered_calls_fail_with_the_status_as_code(client, org, status):
    d = delivery(org, channel="voice", provider_id=CALL_SID)
    call_status(client, d.pk, "ringing")
    call_status(client, d.pk, status)
    failed = row(d.pk)
    assert failed.status == "failed" and failed.error_code == status and failed.error_message


def test_an_opted_out_number_goes_on_the_blocklist(client, org):
    d = delivery(org)
    message_status(client, d.pk, "failed", ErrorCode="21610")
    entry = BlocklistEntry.objects.get(organization=org, recipient="+12025550101")
    assert entry.reason == "stop" and row(d.pk).error_code == "21610"


def test_bad_or_missing_signature_is_403_and_changes_nothing(client, org):
    d = delivery(org)
    other = delivery(org, recipient="+12025550102")
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    path = f"/hooks/twilio/status?d={d.pk}"
    assert client.post(path, params).status_code == 403
    forged = signed_post(client, path, params, token="not-the-token")
    assert forged.status_code == 403 and forged.json()["message"]
    # A signature is for one URL: the delivery id in the query string cannot be swapped.
    signature = twilio_signature(BASE + path, params, TOKEN)
    swapped = client.post(f"/hooks/twilio/status?d={other.pk}", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert swapped.status_code == 403
    tampered = urlencode({**params, "MessageStatus": "failed"})
    assert client.post(path, tampered, content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    assert client.post(path, b"\xff\xfe", content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    assert row(d.pk).status == "sent" and row(other.pk).status == "sent"


def test_no_auth_token_configured_refuses_everything(client, org):
    d = delivery(org)
    with override_settings(TWILIO_AUTH_TOKEN=""):
        assert message_status(client, d.pk, "delivered").status_code == 403
    assert row(d.pk).status == "sent"


def test_a_multipart_form_is_verified_too(client, org):
    d = delivery(org)
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    path = f"/hooks/twilio/status?d={d.pk}"
    signature = twilio_signature(BASE + path, params, TOKEN)
    assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 204
    assert row(d.pk).status == "delivered"


def test_trailing_slash_and_methods(client, org):
    d = delivery(org)
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    assert signed_post(client, f"/hooks/twilio/status/?d={d.pk}", params).status_code == 204
    assert row(d.pk).status == "delivered"
    response = client.get("/hooks/twilio/status")
    assert response.status_code == 405 and response.json()["message"]
