"""POST /hooks/twilio/status: Twilio-signed message and call statuses move deliveries forward only."""

from urllib.parse import urlencode

import pytest
from django.test import override_settings

from logs.models import Delivery
from subscribers.models import BlocklistEntry
from tests.factories import DeliveryFactory
from tests.signing import FORM
from tests.writes import nothing_written

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio")]

ADA = "+12025550101"
SID = "SM" + "a" * 32
CALL_SID = "CA" + "b" * 32


def delivery(org, **fields) -> Delivery:
    """A text to Ada that Twilio took as SID (`provider_id=`, `channel=`, ... for another)."""
    fields = {"recipient": ADA, "status": "sent", "provider": "twilio", "provider_id": SID, **fields}
    return DeliveryFactory(message__organization=org, message__types=[fields.get("channel", "sms")], **fields)


def sending(org) -> Delivery:
    """A text to Ada handed to Twilio, its answer (the SID) not recorded yet."""
    return DeliveryFactory(message__organization=org, recipient=ADA, status="sending")


def message_status(twilio, pk, status, sid=SID, **extra):
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
              "SmsStatus": status, "From": "+15005550006", "To": ADA, **extra}  # fmt: skip
    return twilio.post("/hooks/twilio/status" if pk is None else f"/hooks/twilio/status?d={pk}", params)


def call_status(twilio, pk, status, sid=CALL_SID):
    params = {"CallSid": sid, "CallStatus": status, "From": "+15005550006", "To": ADA}
    return twilio.post(f"/hooks/twilio/status?d={pk}", params)


def row(pk) -> Delivery:
    return Delivery.objects.get(pk=pk)


def test_sent_then_delivered_records_the_first_time_of_each(twilio, org):
    d = sending(org)
    assert message_status(twilio, d.pk, "sent").status_code == 204
    sent = row(d.pk)
    assert sent.status == "sent" and sent.sent_at and sent.delivered_at is None
    assert sent.provider == "twilio" and sent.provider_id == SID  # the callback overtook our own record_sent
    assert message_status(twilio, d.pk, "delivered", ErrorCode="").status_code == 204  # blank values are signed
    delivered = row(d.pk)
    assert delivered.status == "delivered" and delivered.sent_at == sent.sent_at and delivered.delivered_at
    assert message_status(twilio, d.pk, "delivered").status_code == 204  # Twilio retried
    assert row(d.pk).delivered_at == delivered.delivered_at


def test_out_of_order_keeps_the_furthest_status(twilio, org):
    d = delivery(org)
    message_status(twilio, d.pk, "delivered")
    first = row(d.pk)
    assert message_status(twilio, d.pk, "sent").status_code == 204  # late
    assert message_status(twilio, d.pk, "undelivered", ErrorCode="30003").status_code == 204  # after delivered
    later = row(d.pk)
    assert later.status == "delivered" and later.error_code == "" and later.delivered_at == first.delivered_at


def test_undelivered_is_failed_with_twilios_error(twilio, org):
    d = delivery(org)
    assert message_status(twilio, d.pk, "undelivered", ErrorCode="30003").status_code == 204
    failed = row(d.pk)
    assert (failed.status, failed.error_code, failed.error_message) == (
        "failed",
        "30003",
        "Unreachable destination handset",
    )
    message_status(twilio, d.pk, "delivered")  # a terminal status stays
    assert row(d.pk).status == "failed"


def test_nul_characters_and_endless_error_messages_are_stored_tamed(twilio, org):
    d = delivery(org)
    response = message_status(twilio, d.pk, "undelivered", ErrorCode="300\x0003", ErrorMessage="x" * 5000)
    assert response.status_code == 204
    failed = row(d.pk)
    assert (failed.status, failed.error_code, failed.error_message) == ("failed", "30003", "x" * 500)


def test_failed_without_a_code_names_the_status(twilio, org):
    d = delivery(org)
    message_status(twilio, d.pk, "failed")
    assert (row(d.pk).error_code, row(d.pk).status) == ("failed", "failed")


def test_queued_and_accepted_change_nothing(twilio, org):
    d = sending(org)
    for status in ("queued", "accepted"):
        assert message_status(twilio, d.pk, status).status_code == 204
    assert row(d.pk).status == "sending" and row(d.pk).provider_id == ""


def test_a_known_provider_id_is_not_overwritten(twilio, org):
    d = delivery(org, provider_id="SM-ours")
    message_status(twilio, d.pk, "delivered", sid="SM-theirs")
    assert row(d.pk).provider_id == "SM-ours" and row(d.pk).status == "delivered"


def test_without_a_delivery_id_the_message_sid_finds_it(twilio, org):
    d = delivery(org)
    other = delivery(org, recipient="+12025550102", provider_id="SM" + "c" * 32)
    assert message_status(twilio, None, "delivered").status_code == 204
    assert row(d.pk).status == "delivered" and row(other.pk).status == "sent"


def test_unknown_delivery_is_acknowledged(twilio, org):
    delivery(org)
    with nothing_written(Delivery, BlocklistEntry):
        assert message_status(twilio, 999_999, "delivered").status_code == 204
        assert message_status(twilio, None, "delivered", sid="SM-nobody").status_code == 204


def test_call_progress(twilio, org):
    d = delivery(org, channel="voice", status="sending", provider_id=CALL_SID)
    call_status(twilio, d.pk, "ringing")
    assert row(d.pk).status == "sent"
    call_status(twilio, d.pk, "in-progress")
    call_status(twilio, d.pk, "completed")
    assert row(d.pk).status == "delivered" and row(d.pk).delivered_at


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_unanswered_calls_fail_with_the_status_as_code(twilio, org, status):
    d = delivery(org, channel="voice", provider_id=CALL_SID)
    call_status(twilio, d.pk, "ringing")
    call_status(twilio, d.pk, status)
    failed = row(d.pk)
    assert failed.status == "failed" and failed.error_code == status and failed.error_message


def test_an_opted_out_number_goes_on_the_blocklist(twilio, org):
    d = delivery(org)
    message_status(twilio, d.pk, "failed", ErrorCode="21610")
    entry = BlocklistEntry.objects.get(organization=org, recipient=ADA)
    assert entry.reason == "stop" and row(d.pk).error_code == "21610"


def test_bad_or_missing_signature_is_403_and_changes_nothing(client, twilio, org):
    d = delivery(org)
    other = delivery(org, recipient="+12025550102")
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    path = f"/hooks/twilio/status?d={d.pk}"
    with nothing_written(Delivery, BlocklistEntry):
        assert client.post(path, params).status_code == 403
        forged = twilio.post(path, params, token="not-the-token")
        assert forged.status_code == 403 and forged.json()["message"]
        # A signature is for one URL: the delivery id in the query string cannot be swapped.
        signature = twilio.signature(path, params)
        swapped = client.post(f"/hooks/twilio/status?d={other.pk}", params, HTTP_X_TWILIO_SIGNATURE=signature)
        assert swapped.status_code == 403
        tampered = urlencode({**params, "MessageStatus": "failed"})
        assert client.post(path, tampered, content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
        assert client.post(path, b"\xff\xfe", content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403


def test_no_auth_token_configured_refuses_everything(twilio, org):
    d = delivery(org)
    with override_settings(TWILIO_AUTH_TOKEN=""), nothing_written(Delivery):
        assert message_status(twilio, d.pk, "delivered").status_code == 403


def test_a_multipart_form_is_verified_too(client, twilio, org):
    d = delivery(org)
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    path = f"/hooks/twilio/status?d={d.pk}"
    assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE=twilio.signature(path, params)).status_code == 204
    assert row(d.pk).status == "delivered"


def test_trailing_slash_and_methods(client, twilio, org):
    d = delivery(org)
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    assert twilio.post(f"/hooks/twilio/status/?d={d.pk}", params).status_code == 204
    assert row(d.pk).status == "delivered"
    with nothing_written(Delivery):
        response = client.get("/hooks/twilio/status")
    assert response.status_code == 405 and response.json()["message"]
