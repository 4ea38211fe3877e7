"""POST /hooks/twilio/voice/{delivery id}: the TwiML of a call, signed by Twilio, IVR digits recorded."""

import pytest

from logs.models import Delivery
from subscribers.models import Subscriber
from tests.factories import DeliveryFactory, SubscriberFactory
from tests.signing import HOOKS_BASE_URL, twilio_hooks
from tests.writes import nothing_written

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio")]


@pytest.fixture
def twilio(app_client):
    """Twilio, reaching the app as gunicorn serves it (`app_client`: `connext.wsgi.application`)."""
    with twilio_hooks(app_client) as hooks:
        yield hooks


def call(org, *, ivr=False, media=(), message="Hello {first|there}, school is closed.") -> Delivery:
    """A call to Ada, a subscriber of `org`, that Twilio placed."""
    ada = SubscriberFactory(organization=org, first="Ada", phone="+12025550101")
    return DeliveryFactory(message__organization=org, message__types=["voice"], message__message=message,
                           message__ivr=ivr, message__media=list(media), subscriber=ada, channel="voice",
                           recipient=ada.phone, status="sent")  # fmt: skip


CALL_PARAMS = {"CallSid": "CA" + "1" * 32, "From": "+15005550006", "To": "+12025550101", "CallStatus": "in-progress"}


def test_text_to_speech_rendered_for_the_recipient(twilio, org):
    delivery = call(org)
    response = twilio.post(f"/hooks/twilio/voice/{delivery.pk}", CALL_PARAMS)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    body = response.content.decode()
    assert "<Say" in body and "Hello Ada, school is closed.</Say>" in body and "<Gather" not in body


def test_custom_attributes_are_read_aloud_too(twilio, org):
    delivery = call(org, message="Your {attr.ITEM|order} is ready{attr.SHOP|}.")
    Subscriber.objects.filter(pk=delivery.subscriber_id).update(attributes={"ITEM": "blue bike", "VIP": True})
    body = twilio.post(f"/hooks/twilio/voice/{delivery.pk}", CALL_PARAMS).content.decode()
    assert "Your blue bike is ready.</Say>" in body


def test_a_recording_is_played(twilio, org):
    delivery = call(org, media=[{"url": "https://cdn.example/closed.mp3"}])
    body = twilio.post(f"/hooks/twilio/voice/{delivery.pk}", CALL_PARAMS).content.decode()
    assert "<Play>https://cdn.example/closed.mp3</Play>" in body and "<Say" not in body.split("<Play>")[0]


def test_ivr_gathers_a_digit_and_records_it(twilio, org):
    delivery = call(org, ivr=True)
    path = f"/hooks/twilio/voice/{delivery.pk}"
    body = twilio.post(path, CALL_PARAMS).content.decode()
    assert "<Gather" in body and f'action="{HOOKS_BASE_URL}{path}"' in body
    answer = twilio.post(path, {**CALL_PARAMS, "Digits": "2"})
    assert answer.status_code == 200 and "<Say" in answer.content.decode()
    assert Delivery.objects.get(pk=delivery.pk).digits == "2"
    twilio.post(path, {**CALL_PARAMS, "Digits": "9"})  # Twilio retried, or a second press
    assert Delivery.objects.get(pk=delivery.pk).digits == "2"


def test_only_one_key_of_an_ivr_call_is_kept_and_none_without_ivr(twilio, org):
    asked = call(org, ivr=True)
    twilio.post(f"/hooks/twilio/voice/{asked.pk}", {**CALL_PARAMS, "Digits": "12#"})
    assert Delivery.objects.get(pk=asked.pk).digits == "1"
    Subscriber.objects.all().delete()
    told = call(org)  # no Gather in its TwiML: keys pressed answer nothing
    body = twilio.post(f"/hooks/twilio/voice/{told.pk}", {**CALL_PARAMS, "Digits": "5"}).content.decode()
    assert "<Say" in body and Delivery.objects.get(pk=told.pk).digits == ""


def test_the_key_pressed_is_the_calls_reply_in_the_logs(twilio, org, api):
    delivery = call(org, ivr=True)
    rows = api.get(f"/api/v1/logs/{delivery.message_id}").json()
    assert [row["reply"] for row in rows] == [None]
    twilio.post(f"/hooks/twilio/voice/{delivery.pk}", {**CALL_PARAMS, "Digits": "1"})
    rows = api.get(f"/api/v1/logs/{delivery.message_id}").json()
    assert [row["reply"] for row in rows] == ["1"]


def test_bad_or_missing_signature_is_403_and_changes_nothing(app_client, twilio, org):
    delivery = call(org, ivr=True)
    path = f"/hooks/twilio/voice/{delivery.pk}"
    pressed_9 = {**CALL_PARAMS, "Digits": "9"}
    with nothing_written(Delivery):
        assert app_client.post(path, pressed_9).status_code == 403
        forged = twilio.post(path, pressed_9, token="not-the-token")
        assert forged.status_code == 403 and forged.json()["message"]
        tampered = twilio.signature(path, {**CALL_PARAMS, "Digits": "1"})
        assert app_client.post(path, pressed_9, HTTP_X_TWILIO_SIGNATURE=tampered).status_code == 403


def test_unknown_delivery_is_404(twilio, org):
    call(org, ivr=True)
    with nothing_written(Delivery):
        assert twilio.post("/hooks/twilio/voice/999999", {**CALL_PARAMS, "Digits": "1"}).status_code == 404


def test_get_is_not_allowed(app_client, org):
    delivery = call(org, ivr=True)
    with nothing_written(Delivery):
        response = app_client.get(f"/hooks/twilio/voice/{delivery.pk}", {**CALL_PARAMS, "Digits": "1"})
    assert response.status_code == 405 and response.json() == {"message": 'Method "GET" not allowed.'}
    assert response["Allow"] == "POST"
