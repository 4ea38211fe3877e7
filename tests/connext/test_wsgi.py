"""The WSGI application routes provider callbacks to a handler without the browser middleware,
and Twilio status callbacks to a path without Django's request handling."""

import io
import sys
from urllib.parse import urlencode

import pytest

from blasts.channels.twilio import views as twilio_views
from connext.wsgi import application
from logs.models import Delivery
from tests.factories import DeliveryFactory
from tests.signing import FORM, twilio_post, twilio_signature
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


def call(path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "HTTP_HOST": "testserver", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "CONTENT_LENGTH": "0",
    }  # fmt: skip
    body = b"".join(application(environ, start_response))
    return captured["status"], captured["headers"], body


def test_callbacks_answer_without_session_or_frame_headers(app_client, org):
    delivery = sending(org)
    with nothing_written(delivery):
        response = app_client.post(f"/hooks/twilio/status?d={delivery.pk}", "MessageSid=SM1&MessageStatus=sent",
                                   content_type=FORM)  # unsigned  # fmt: skip
    assert response.status_code == 403 and b"signature" in response.content.lower()
    assert "X-Frame-Options" not in response and "Vary" not in response


def test_everything_else_keeps_the_full_stack():
    status, headers, _ = call("/healthz")
    assert status.startswith(("200", "503")) and headers.get("X-Frame-Options") == "DENY"


# Twilio status callbacks: a plain form POST is answered without Django's request handling.


@pytest.fixture
def signed(settings):
    settings.TWILIO_AUTH_TOKEN, settings.PUBLIC_BASE_URL = "wsgi-token", "https://cnxt.example"

    def post(client, path, params):
        return twilio_post(client, "https://cnxt.example" + path, params, "wsgi-token")

    return post


def sending(org) -> Delivery:
    return DeliveryFactory(message__organization=org, recipient="+12025550101", status="sending")


def test_a_signed_status_callback_is_applied(app_client, org, signed):
    delivery = sending(org)
    response = signed(
        app_client, f"/hooks/twilio/status?d={delivery.pk}", {"MessageSid": "SM1", "MessageStatus": "sent"}
    )
    assert response.status_code == 204 and response.content == b""
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "SM1") and delivery.sent_at


def test_a_form_with_a_charset_is_still_a_form(app_client, org, signed):
    delivery = sending(org)
    path, params = f"/hooks/twilio/status/?d={delivery.pk}", {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signature = twilio_signature("https://cnxt.example" + path, params, "wsgi-token")
    response = app_client.post(path, urlencode(params), content_type=f"{FORM}; charset=utf-8",
                               HTTP_X_TWILIO_SIGNATURE=signature)  # fmt: skip
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_an_error_is_logged_and_answered_500_json(app_client, org, signed, monkeypatch, caplog):
    delivery = sending(org)

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(twilio_views, "apply_status", broken)
    response = signed(
        app_client, f"/hooks/twilio/status?d={delivery.pk}", {"MessageSid": "SM1", "MessageStatus": "sent"}
    )
    assert response.status_code == 500 and response.json() == {"message": "Internal server error."}
    assert any(r.name == "django.request" and r.exc_info for r in caplog.records)
    monkeypatch.undo()
    again = signed(app_client, f"/hooks/twilio/status?d={delivery.pk}", {"MessageSid": "SM1", "MessageStatus": "sent"})
    assert again.status_code == 204


def test_other_requests_get_djangos_answers(app_client, org, signed):
    delivery = sending(org)
    assert app_client.get("/hooks/twilio/status").status_code == 405
    with nothing_written(delivery):  # over DATA_UPLOAD_MAX_MEMORY_SIZE: refused before any handler
        oversized = app_client.post(f"/hooks/twilio/status?d={delivery.pk}", "a=" + "b" * (3 << 20),
                                    content_type=FORM, HTTP_X_TWILIO_SIGNATURE="x")  # fmt: skip
    assert oversized.status_code == 413 and oversized.json()["message"]
