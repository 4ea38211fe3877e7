"""Views outside the resource apps: health, and JSON error pages for /api/."""

import functools

from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from connext import health

JSON_PREFIXES = ("/api/", "/hooks/", "/healthz")


def message_response(message: str, status: int) -> JsonResponse:
    """`{"message"}` with `status`: the shape of every error outside DRF's views too."""
    return JsonResponse({"message": message}, status=status)


def allow_only(*methods: str):
    """Only these methods; any other is a JSON 405 naming the allowed ones in `Allow`, as
    everywhere under /api/ (Django's require_http_methods answers with an empty text/html
    page, and DRF with the view's own renderer). Exempt from CSRF: no cookies are used."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = message_response(f'Method "{request.method}" not allowed.', 405)
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


get_only = allow_only("GET", "HEAD")


@get_only
def healthz(request):
    checks = {"database": health.database_ok(), "broker": health.broker_ok()}
    ok = all(checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": {k: "ok" if v else "down" for k, v in checks.items()}}
    return JsonResponse(body, status=200 if ok else 503)


def _wants_json(request) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def bad_request(request, exception=None):
    if _wants_json(request):
        return message_response("Bad request.", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _wants_json(request):
        return message_response("You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if _wants_json(request):
        return message_response("Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return message_response("Internal server error.", 500)
    return defaults.server_error(request)
