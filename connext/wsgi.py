"""The WSGI application: Django, with provider callbacks on leaner paths.

Callbacks (`/hooks/...`) arrive by the thousand a second, carry no cookies and need no
session, CSRF token, user or flash messages: a second Django handler serves them with
`HOOKS_MIDDLEWARE` only. Everything else goes through the full `MIDDLEWARE`.

Twilio's status callbacks, the busiest of all (one or more per message sent), go further:
a plain form POST to `/hooks/twilio/status` is answered by `LeanFormPost` without
building a request, resolving a URL or running middleware, which cuts about a third of
gunicorn's CPU time per callback (bench/callback_ingest.py). Anything unusual about the request (another method or
content type, no or a too large Content-Length) takes the Django path, so the edge
cases keep Django's answers.

Before any of them, `BodyLimit` bounds every request body by its endpoint's limit
(`body_limits()`), so a body too large is refused before anything reads it.
"""

import json
import logging
import os
import tempfile
from collections.abc import Callable

from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.urls import reverse
from django.utils.encoding import iri_to_uri

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connext.settings")

logger = logging.getLogger("django.request")  # where Django's handler logs a 500

SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]  # SecurityMiddleware's


def json_answer(start_response, status: str, message: str | None, headers=()) -> list[bytes]:
    """Answer `status` with `{"message"}` (or no body) without Django."""
    headers = [*SECURITY_HEADERS, *headers]
    content = b""
    if message is not None:
        content = json.dumps({"message": message}).encode()
        headers.append(("Content-Type", "application/json"))
    headers.append(("Content-Length", str(len(content))))
    start_response(status, headers)
    return [content]


class BodyLimit:
    """Every request body bounded by its endpoint's limit before anything reads it.

    `limits` maps a path (without a trailing slash) to a function giving its limit in bytes;
    any other path's is Django's DATA_UPLOAD_MAX_MEMORY_SIZE (None: no limit). Nothing later
    (the idempotency key's hash, DRF's parsers, a multipart upload) can then read more:

    - a Content-Length over the limit is a JSON 413, the body never read;
    - a body without one (`Transfer-Encoding: chunked`) is read here up to the limit, when
      the server marks where it ends (`wsgi.input_terminated`, as gunicorn does): over it,
      a 413; within it, the rest of the app gets it with its Content-Length, as any other.
      (Without that mark, Django reads such a body as empty.)
    """

    CHUNK = 64 * 1024

    def __init__(self, app, limits: dict[str, Callable[[], int | None]]):
        self.app, self.limits = app, limits

    def limit(self, path: str) -> int | None:
        endpoint = self.limits.get(path.rstrip("/"))
        return endpoint() if endpoint else settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH", "")
        if length.isdigit():
            limit = self.limit(environ.get("PATH_INFO", "")) if int(length) else None
            if limit is not None and int(length) > limit:
                return self.refuse(start_response, limit)
            return self.app(environ, start_response)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        limit = self.limit(environ.get("PATH_INFO", "")) if chunked and not length else None
        if limit is None or not environ.get("wsgi.input_terminated"):
            return self.app(environ, start_response)  # Django reads nothing without a Content-Length
        body = self.read_up_to(environ["wsgi.input"], limit)
        if body is None:
            return self.refuse(start_response, limit)
        environ = {**environ, "CONTENT_LENGTH": str(body.tell()), "wsgi.input": body}
        del environ["HTTP_TRANSFER_ENCODING"]
        body.seek(0)
        try:
            chunks = self.app(environ, start_response)
        except BaseException:
            body.close()
            raise
        return ClosingChunks(chunks, body)

    def read_up_to(self, stream, limit: int):
        """The body in a spooled file (in memory up to DATA_UPLOAD_MAX_MEMORY_SIZE), at its end;
        None when it is longer than `limit`. Never reads more than `limit + 1` bytes."""
        memory = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        body = tempfile.SpooledTemporaryFile(max_size=min(limit, memory))  # noqa: SIM115 (closed with the response)
        left = limit + 1
        while left > 0:
            data = stream.read(min(self.CHUNK, left))
            if not data:
                return body
            body.write(data)
            left -= len(data)
        body.close()
        return None

    @staticmethod
    def refuse(start_response, limit: int) -> list[bytes]:
        return json_answer(
            start_response, "413 Request Entity Too Large", f"Request body is too large (at most {limit} bytes)."
        )


class ClosingChunks:
    """A response's chunks, and a file closed with them."""

    def __init__(self, chunks, file):
        self.chunks, self.file = chunks, file

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        try:
            getattr(self.chunks, "close", lambda: None)()
        finally:
            self.file.close()


class HooksHandler(WSGIHandler):
    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.HOOKS_MIDDLEWARE  # read once, here, by Django's loader
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class LeanFormPost:
    """`answer(url, query string, body, environ)` -> (HTTP status, error message or None)
    for form POSTs to one path; `fallback` (a Django handler) for any other request.

    What Django's handler would do for such a request and no more: the body read within
    DATA_UPLOAD_MAX_MEMORY_SIZE, its request_started and request_finished signals sent
    (their receivers check database connections before and after), an exception logged
    to `django.request` and answered `500 {"message"}`.
    """

    FORM = "application/x-www-form-urlencoded"

    def __init__(self, answer, fallback):
        self.answer, self.fallback = answer, fallback

    def takes(self, environ) -> bool:
        if environ.get("REQUEST_METHOD") != "POST":
            return False
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != self.FORM:
            return False
        length = environ.get("CONTENT_LENGTH", "")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return length.isdigit() and (limit is None or int(length) <= limit)

    def __call__(self, environ, start_response):
        if not self.takes(environ):
            return self.fallback(environ, start_response)
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
            query = environ.get("QUERY_STRING", "")
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            url = settings.PUBLIC_BASE_URL + path + (f"?{iri_to_uri(query)}" if query else "")  # get_full_path()
            status, message = self.answer(url, query, body, environ)
        except Exception:
            logger.exception("Internal Server Error: %s", environ.get("PATH_INFO", ""))
            status, message = 500, "Internal server error."
        finally:
            signals.request_finished.send(sender=self.__class__)
        return json_answer(start_response, f"{status} {REASONS.get(status, '')}".rstrip(), message)


REASONS = {204: "No Content", 403: "Forbidden", 500: "Internal Server Error"}


class PathRouter:
    """`/hooks/` to the hooks handler, a few exact paths to their own apps, the rest to Django."""

    def __init__(self, default, hooks, exact: dict | None = None, prefix: str = "/hooks/"):
        self.default, self.hooks, self.exact, self.prefix = default, hooks, exact or {}, prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        handler = self.exact.get(path) or (self.hooks if path.startswith(self.prefix) else self.default)
        return handler(environ, start_response)


def body_limits() -> dict[str, Callable[[], int | None]]:
    """The endpoints whose bodies may be larger than DATA_UPLOAD_MAX_MEMORY_SIZE, by path."""
    from subscribers.import_views import max_request_bytes as import_request_bytes

    return {
        reverse("subscriber-imports").rstrip("/"): import_request_bytes,
        reverse("admin:subscribers_subscriber_import").rstrip("/"): import_request_bytes,  # the admin's upload
    }


def build() -> BodyLimit:
    django_app = get_wsgi_application()  # django.setup(): the apps below import models
    hooks = HooksHandler()

    from blasts.channels.twilio.views import status_form as twilio_status_form

    def twilio_status(url, query, body, environ):
        return twilio_status_form(url, query, body, environ.get("HTTP_X_TWILIO_SIGNATURE", ""))

    status = LeanFormPost(twilio_status, hooks)
    router = PathRouter(django_app, hooks, {"/hooks/twilio/status": status, "/hooks/twilio/status/": status})
    return BodyLimit(router, body_limits())


application = build()
