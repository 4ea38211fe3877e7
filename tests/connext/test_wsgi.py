"""The WSGI application routes provider callbacks to a handler without the browser middleware."""

import io
import sys

import pytest

from connext.wsgi import application

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


def test_callbacks_answer_without_session_or_frame_headers():
    status, headers, body = call("/hooks/twilio/status", "POST")
    assert status.startswith("403") and b"signature" in body.lower()
    assert "X-Frame-Options" not in headers and "Vary" not in headers


def test_everything_else_keeps_the_full_stack():
    status, headers, _ = call("/healthz")
    assert status.startswith(("200", "503")) and headers.get("X-Frame-Options") == "DENY"
