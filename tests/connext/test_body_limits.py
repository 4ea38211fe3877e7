"""Request bodies are bounded by their endpoint's limit before anything reads them
(`connext.wsgi.BodyLimit`): subscriber imports up to IMPORT_MAX_BYTES (plus the form's
framing), every other endpoint up to DATA_UPLOAD_MAX_MEMORY_SIZE. Through the WSGI app
gunicorn serves, with a `wsgi.input` that records how much of the body was read."""

import json

import pytest

from connext.models import IdempotencyRecord
from groups.models import Group
from logs.models import Delivery
from subscribers.import_views import FORM_OVERHEAD_BYTES
from subscribers.models import BlocklistEntry, ImportJob
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

IMPORTS = "/api/v1/subscribers/imports"
TEN_GB = str(10 * 1024**3)


class Tripwire:
    """A `wsgi.input` holding `body` (then, with `endless`, as many more bytes as asked for)
    that raises when anything reads past `allowed` bytes; `read_bytes` is what was read."""

    def __init__(self, body: bytes = b"", *, allowed: int, endless: bool = False):
        self.body, self.allowed, self.endless = body, allowed, endless
        self.read_bytes = 0
        self.overread = False

    def read(self, size: int | None = -1) -> bytes:
        left = len(self.body) - self.read_bytes
        if size is None or size < 0:
            size = left if not self.endless else self.allowed + 1 - self.read_bytes
        if not self.endless:
            size = min(size, left)
        if self.read_bytes + size > self.allowed:
            self.overread = True
            raise AssertionError(f"read past {self.allowed} bytes of the body")
        start, self.read_bytes = self.read_bytes, self.read_bytes + size
        return (self.body[start:] + b"x" * size)[:size] if self.endless else self.body[start : start + size]

    def readline(self, size: int | None = -1) -> bytes:
        return self.read(size)


def post(client, path, *, body: bytes = b"", content_type="application/json", length=None, chunked=False, **extra):
    """POST `body` through the WSGI app; `length` the declared Content-Length (default its
    size), `chunked`: no Content-Length, `Transfer-Encoding: chunked` as gunicorn passes it."""
    stream = extra.pop("stream", None) or Tripwire(body, allowed=len(body))
    environ = {"CONTENT_TYPE": content_type, "wsgi.input": stream, **extra}
    if chunked:
        environ |= {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
    else:
        environ["CONTENT_LENGTH"] = str(len(body) if length is None else length)
    return client.generic("POST", path, b"", **environ), stream


def max_request_bytes() -> int:
    """An import's body: the import limit and room for the form around the file."""
    from django.conf import settings

    return settings.IMPORT_MAX_BYTES + FORM_OVERHEAD_BYTES


def auth(api) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {api.key}"}


def assert_413(response) -> str:
    assert response.status_code == 413, response.content
    assert response["Content-Type"] == "application/json"
    message = response.json()["message"]
    assert "too large" in message
    return message


def test_an_import_declaring_gigabytes_with_an_idempotency_key_is_refused_unread(app_client, api):
    """The Idempotency-Key's hash used to read and parse the whole body before the view
    looked at its size."""
    stream = Tripwire(b'{"subscribers": []}', allowed=0)
    with nothing_written(IdempotencyRecord, ImportJob):
        response, _ = post(app_client, IMPORTS, length=TEN_GB, stream=stream, HTTP_IDEMPOTENCY_KEY="k1", **auth(api))
    message = assert_413(response)
    assert str(max_request_bytes()) in message
    assert stream.read_bytes == 0 and not stream.overread


def test_an_import_one_byte_over_its_limit_is_refused_unread(app_client, api, settings):
    settings.IMPORT_MAX_BYTES = 1000
    stream = Tripwire(allowed=0)
    with nothing_written(IdempotencyRecord, ImportJob):
        response, _ = post(app_client, IMPORTS, length=max_request_bytes() + 1, stream=stream,
                           HTTP_IDEMPOTENCY_KEY="k1", **auth(api))  # fmt: skip
    assert_413(response)
    assert stream.read_bytes == 0


def test_an_import_may_be_larger_than_other_bodies(app_client, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body = json.dumps({"subscribers": [{"phone": f"+1202555{i:04d}", "first": "x" * 40} for i in range(100)]}).encode()
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(body) < max_request_bytes()
    response, stream = post(app_client, IMPORTS, body=body, HTTP_IDEMPOTENCY_KEY="k1", **auth(api))
    assert response.status_code == 202, response.content
    assert ImportJob.objects.count() == 1 and stream.read_bytes == len(body)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/groups", "application/json"),
        ("/api/v1/blasts", "application/json"),
        ("/api/v1/subscribers/imports/1", "application/json"),  # an import job's page: not the import limit
        ("/hooks/twilio/status", "application/x-www-form-urlencoded"),
        ("/hooks/twilio/inbound", "application/x-www-form-urlencoded"),
        ("/hooks/sendgrid/events", "application/json"),
        ("/admin/login/", "application/x-www-form-urlencoded"),
        ("/admin/login/", "multipart/form-data; boundary=xyz"),
        ("/u/some-token", "application/x-www-form-urlencoded"),
        ("/nowhere", "application/json"),
    ],
)
def test_every_other_endpoint_refuses_more_than_django_s_limit_unread(app_client, api, settings, path, content_type):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    stream = Tripwire(b"{}", allowed=0)
    with nothing_written(IdempotencyRecord, Group, Delivery, BlocklistEntry):
        response, _ = post(app_client, path, content_type=content_type, length=1001, stream=stream,
                           HTTP_IDEMPOTENCY_KEY="k1", **auth(api))  # fmt: skip
    assert "(at most 1000 bytes)" in assert_413(response)
    assert stream.read_bytes == 0


def test_a_body_within_the_limit_is_read_as_usual(app_client, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = b'{"name": "Within"}'.ljust(1000)  # exactly the limit
    response, stream = post(app_client, "/api/v1/groups", body=body, **auth(api))
    assert response.status_code == 201, response.content
    assert stream.read_bytes == len(body)


# --- no Content-Length: a chunked body ----------------------------------------------------


def test_a_chunked_body_over_the_limit_is_read_only_up_to_it(app_client, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    stream = Tripwire(allowed=1001, endless=True)  # a client that never stops sending
    with nothing_written(IdempotencyRecord, Group):
        response, _ = post(app_client, "/api/v1/groups", chunked=True, stream=stream, HTTP_IDEMPOTENCY_KEY="k1",
                           **auth(api))  # fmt: skip
    assert "(at most 1000 bytes)" in assert_413(response)
    assert not stream.overread


def test_a_chunked_import_over_its_limit_is_read_only_up_to_it(app_client, api, settings):
    settings.IMPORT_MAX_BYTES = 1000
    limit = max_request_bytes()
    stream = Tripwire(allowed=limit + 1, endless=True)
    with nothing_written(IdempotencyRecord, ImportJob):
        response, _ = post(app_client, IMPORTS, chunked=True, stream=stream, HTTP_IDEMPOTENCY_KEY="k1", **auth(api))
    assert f"(at most {limit} bytes)" in assert_413(response)
    assert not stream.overread


def test_a_chunked_body_within_the_limit_is_served(app_client, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response, stream = post(app_client, "/api/v1/groups", body=b'{"name": "Chunked"}', chunked=True, **auth(api))
    assert response.status_code == 201, response.content
    assert Group.objects.filter(name="Chunked").exists()
    assert stream.read_bytes == len(b'{"name": "Chunked"}')
