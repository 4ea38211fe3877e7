"""A Django test Client whose requests go through `connext.wsgi.application`, the WSGI app
gunicorn serves, instead of Django's test handler: the same routing as production, lean
callback paths included, with the test client's request building and response helpers."""

from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import Client

from connext.wsgi import application


class AppHandler:
    """The test Client's handler protocol (environ -> response) over the production app."""

    def __call__(self, environ):
        answer = {}

        def start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers

        # As Django's test handler does: the test's transaction is not a stale connection.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            chunks = application(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                getattr(chunks, "close", lambda: None)()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        response = HttpResponse(body, status=int(answer["status"].split()[0]))
        for name, value in answer["headers"]:
            response[name] = value
        response.wsgi_request = WSGIRequest(environ)
        return response


class AppClient(Client):
    def __init__(self, **defaults):
        super().__init__(**defaults)
        self.handler = AppHandler()
