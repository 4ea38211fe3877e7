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
"""

import json
import logging
import os

from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.utils.encoding import iri_to_uri

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connext.settings")

logger = logging.getLogger("django.request")  # where Django's handler logs a 500


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
    HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]  # SecurityMiddleware's

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
        headers = list(self.HEADERS)
        content = b""
        if message is not None:
            content = json.dumps({"message": message}).encode()
            headers.append(("Content-Type", "application/json"))
        headers.append(("Content-Length", str(len(content))))
        start_response(f"{status} {REASONS.get(status, '')}".rstrip(), headers)
        return [content]


REASONS = {204: "No Content", 403: "Forbidden", 500: "Internal Server Error"}


class PathRouter:
    """`/hooks/` to the hooks handler, a few exact paths to their own apps, the rest to Django."""

    def __init__(self, default, hooks, exact: dict | None = None, prefix: str = "/hooks/"):
        self.default, self.hooks, self.exact, self.prefix = default, hooks, exact or {}, prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        handler = self.exact.get(path) or (self.hooks if path.startswith(self.prefix) else self.default)
        return handler(environ, start_response)


def build() -> PathRouter:
    django_app = get_wsgi_application()  # django.setup(): the apps below import models
    hooks = HooksHandler()

    from blasts.channels.twilio.views import status_form as twilio_status_form

    def twilio_status(url, query, body, environ):
        return twilio_status_form(url, query, body, environ.get("HTTP_X_TWILIO_SIGNATURE", ""))

    status = LeanFormPost(twilio_status, hooks)
    return PathRouter(django_app, hooks, {"/hooks/twilio/status": status, "/hooks/twilio/status/": status})


application = build()
