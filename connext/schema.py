"""OpenAPI (drf-spectacular): the real error shape on every operation, the pagination and
rate-limit headers. The bearer scheme is the API keys' own (apikeys.schema)."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="What went wrong; validation errors start with the field name.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation problems per field (dotted paths for nested fields).",
    )


class IntBooleanFieldExtension(OpenApiSerializerFieldExtension):
    """Booleans are returned as 0/1 and accepted as true/false or 0/1."""

    target_class = "connext.fields.IntBooleanField"

    def map_serializer_field(self, auto_schema, direction):
        if direction == "response":
            return {"type": "integer", "minimum": 0, "maximum": 1, "description": "0 or 1"}
        return {"oneOf": [{"type": "boolean"}, {"type": "integer", "minimum": 0, "maximum": 1}]}


def strip_trailing_slash(endpoints):
    """Routes accept `/groups` and `/groups/`; the schema documents the form without the slash."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed per minute for this API key.",
    "X-RateLimit-Remaining": "Requests left in the current window.",
    "X-RateLimit-Reset": "When the window resets (Unix time, seconds).",
}

ERROR_RESPONSES = {
    400: "Invalid input; `message` names the field.",
    401: "Missing, unknown, expired or deactivated API key.",
    403: "The key's user lacks the permission, or a send-only key tried to read.",
    404: "No such object in your organization.",
    405: "Method not allowed.",
    409: "Idempotency-Key still in use by a running request.",
    422: "Idempotency-Key reused with a different request.",
    429: "Rate limit exceeded; see Retry-After.",
    500: "Server error.",
}


class ConnextAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in ERROR_RESPONSES.items():
            if code == 404 and not self._is_object_path():
                continue
            responses.setdefault(
                str(code),
                self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), str(code), direction=direction
                ),
            )
        return responses

    def _is_object_path(self) -> bool:
        return "{" in self.path

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        headers = dict(headers or {})
        for name, description in RATE_LIMIT_HEADERS.items():
            headers[name] = {"schema": {"type": "integer"}, "description": description}
        if str(status_code) == "429":
            headers["Retry-After"] = {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        if str(status_code) == "200" and self._is_list_view():
            headers["X-Total-Count"] = {"schema": {"type": "integer"}, "description": "Rows matching, all pages."}
        return headers

    def get_override_parameters(self):
        params = super().get_override_parameters()
        if self.method in ("POST", "PATCH"):
            from drf_spectacular.utils import OpenApiParameter

            params = [
                *params,
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Replays the first response for 24 h instead of acting twice.",
                ),
            ]
        return params
