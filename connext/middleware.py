from django.http import HttpRequest, HttpResponse


class APIResponseHeadersMiddleware:
    """Copies the rate-limit window of the request's API key onto every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for header, value in getattr(request, "rate_limit", {}).items():
            response[header] = value
        return response
