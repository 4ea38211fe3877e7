"""POST /hooks/twilio/voice/{delivery id}: the TwiML of a call, signed by Twilio, IVR digits recorded."""

import pytest
from django.test import override_settings
from django.utils import timezone

from logs.models import Delivery, Message
from subscribers.models import Subscriber
from tests.signing import twilio_post, twilio_signature

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("twilio_settings"),
]

TOKEN = "voice-hook-token"
BASE = "https://cnxt.example"


@pytest.fixture
def twilio_settings():
    with override_settings(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=BASE):
        yield


@pytest.fixture
def client(app_client):
    """Twilio reaches the app as gunicorn serves it: `connext.wsgi.application`."""
    return app_client


def call(org, *, ivr=False, media=(), message="Hello {first|there}, school is closed."):
    ada = Subscriber.objects.create(organization=org, first="Ada", phone="+12025550101")
    msg = Message.objects.create(organization=org, types=["voice"], message=message, ivr=ivr, media=list(media),
                                 fanned_out_at=timezone.now())  # fmt: skip
    return Delivery.objects.create(message=msg, subscriber=ada, channel="voice", recipient=ada.phone, status="sent")


def signed_post(client, path, params, token=TOKEN):
    return twilio_post(client, BASE + path, params, token)


CALL_PARAMS = {"CallSid": "CA" + "1" * 32, "From": "+15005550006", "To": "+12025550101", "CallStatus": "in-progress"}


def test_text_to_speech_rendered_for_the_recipient(client, org):
    delivery = call(org)
    response = signed_post(client, f"/hooks/twilio/voice/{delivery.pk}", CALL_PARAMS)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    body = response.content.decode()
    assert "<Say" in body and "Hello Ada, school is closed.</Say>" in body and "<Gather" not in body


def test_a_recording_is_played(client, org):
    delivery = call(org, media=[{"url": "https://cdn.example/closed.mp3"}])
    body = signed_post(client, f"/hooks/twilio/voice/{delivery.pk}", CALL_PARAMS).content.decode()
    assert "<Play>https://cdn.example/closed.mp3</Play>" in body and "<Say" not in body.split("<Play>")[0]


def test_ivr_gathers_a_digit_and_records_it(client, org):
    delivery = call(org, ivr=True)
    path = f"/hooks/twilio/voice/{delivery.pk}"
    body = signed_post(client, path, CALL_PARAMS).content.decode()
    assert "<Gather" in body and f'action="{BASE}{path}"' in body
    answer = signed_post(client, path, {**CALL_PARAMS, "Digits": "2"})
    assert answer.status_code == 200 and "<Say" in answer.content.decode()
    assert Delivery.objects.get(pk=delivery.pk).digits == "2"
    signed_post(client, path, {**CALL_PARAMS, "Digits": "9"})  # Twilio retried, or a second press
    assert Delivery.objects.get(pk=delivery.pk).digits == "2"


def test_only_one_key_of_an_ivr_call_is_kept_and_none_without_ivr(client, org):
    asked = call(org, ivr=True)
    signed_post(client, f"/hooks/twilio/voice/{asked.pk}", {**CALL_PARAMS, "Digits": "12#"})
    assert Delivery.objects.get(pk=asked.pk).digits == "1"
    Subscriber.objects.all().delete()
    told = call(org)  # no Gather in its TwiML: keys pressed answer nothing
    body = signed_post(client, f"/hooks/twilio/voice/{told.pk}", {**CALL_PARAMS, "Digits": "5"}).content.decode()
    assert "<Say" in body and Delivery.objects.get(pk=told.pk).digits == ""


def test_the_key_pressed_is_the_calls_reply_in_the_logs(client, org, api):
    delivery = call(org, ivr=True)
    rows = api.get(f"/api/v1/logs/{delivery.message_id}").json()
    assert [row["reply"] for row in rows] == [None]
    signed_post(client, f"/hooks/twilio/voice/{delivery.pk}", {**CALL_PARAMS, "Digits": "1"})
    rows = api.get(f"/api/v1/logs/{delivery.message_id}").json()
    assert [row["reply"] for row in rows] == ["1"]


def test_bad_or_missing_signature_is_403_and_changes_nothing(client, org):
    delivery = call(org, ivr=True)
    path = f"/hooks/twilio/voice/{delivery.pk}"
    assert client.post(path, {**CALL_PARAMS, "Digits": "9"}).status_code == 403
    forged = signed_post(client, path, {**CALL_PARAMS, "Digits": "9"}, token="not-the-token")
    assert forged.status_code == 403 and forged.json()["message"]
    tampered = twilio_signature(BASE + path, {**CALL_PARAMS, "Digits": "1"}, TOKEN)
    assert client.post(path, {**CALL_PARAMS, "Digits": "9"}, HTTP_X_TWILIO_SIGNATURE=tampered).status_code == 403
    assert Delivery.objects.get(pk=delivery.pk).digits == ""


def test_unknown_delivery_is_404(client, org):
    assert signed_post(client, "/hooks/twilio/voice/999999", CALL_PARAMS).status_code == 404


def test_get_is_not_allowed(client, org):
    delivery = call(org)
    response = client.get(f"/hooks/twilio/voice/{delivery.pk}")
    assert response.status_code == 405 and response.json() == {"message": 'Method "GET" not allowed.'}
    assert response["Allow"] == "POST"
