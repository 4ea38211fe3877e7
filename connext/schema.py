"""OpenAPI (drf-spectacular): the real error shape on every operation, the pagination and
rate-limit headers. The bearer scheme is the API keys' own (apikeys.schema).

The schema says exactly what the server takes (tests/connext/test_fuzz.py holds it to that).
ConnextAutoSchema: a request body of a serializer that refuses unknown fields has
`additionalProperties: false`, a string DRF refuses blank has the NOT_BLANK pattern, a list that
may not be empty has `minItems`, and a DELETE that reads a body documents it. Fields with a
format of their own (SingleLineCharField, HttpURLField) carry its pattern. `exact_inputs`, a
postprocessing hook, does what holds for every input: no NUL in any string, and an optional
form field may be sent empty.
"""

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


# Every string the server takes refuses NUL characters (DRF's CharField, ConnextAPIMixin for
# query parameters; no database text can hold one).
NO_NUL = r"^[^\u0000]*$"
# What str.strip() removes (Python's whitespace, spelled out: ECMA's \s is another set).
WHITESPACE = r"\t-\r\u001c- \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# A CharField that trims and may not be blank refuses "   " too: something besides whitespace, no NUL.
NOT_BLANK = rf"^[^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*$"


# connext.fields.SingleLineCharField; not empty (drf-spectacular adds "" for a blank-allowing field).
ONE_LINE = r"^[^\u0000\r\n]+$"
# connext.fields.HttpURLField, a little stricter than the server (no [IPv6] host, no tab in it).
# urlsplit refuses a host with a character whose NFKC form holds one of / ? # @ : ("\u2100" is
# "a/c"): these 19. A host of whitespace alone is trimmed away when nothing follows it.
NFKC_DELIMITERS = (
    r"\u2047-\u2049\u2100\u2101\u2105\u2106\u2a74\ufe13\ufe16\ufe55\ufe56\ufe5f\ufe6b\uff03\uff0f\uff1a\uff1f\uff20"
)
_HOST = rf"[^/?#\[\]\u0000\t\n\r{NFKC_DELIMITERS}]"
_HOST_NOT_BLANK = rf"[^/?#\[\]\u0000{WHITESPACE}{NFKC_DELIMITERS}]"
HTTP_URL = rf"^[Hh][Tt][Tt][Pp][Ss]?://({_HOST}*{_HOST_NOT_BLANK}{_HOST}*|{_HOST}+[/?#][^\u0000]*)$"


def _without_nul(schema, components: dict, seen: set) -> None:
    """Give every string of `schema` (references followed, each component once) the NO_NUL
    pattern, unless it is an enum, a file or already has a pattern."""
    if not isinstance(schema, dict):
        return
    reference = schema.get("$ref")
    if reference:
        name = reference.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            _without_nul(components.get(name), components, seen)
        return
    if (
        schema.get("type") == "string"
        and "enum" not in schema
        and "pattern" not in schema
        and schema.get("format") != "binary"
    ):
        schema["pattern"] = NO_NUL
    for child in schema.get("properties", {}).values():
        _without_nul(child, components, seen)
    for key in ("items", "additionalProperties"):
        _without_nul(schema.get(key), components, seen)
    for key in ("oneOf", "anyOf", "allOf"):
        for child in schema.get(key, []):
            _without_nul(child, components, seen)


FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def _empty_means_omitted(schema: dict) -> None:
    """In a form, DRF reads an optional field sent empty (`url=`) as not sent: such a string
    field takes "" besides its own schema."""
    required = set(schema.get("required", []))
    for name, field in schema.get("properties", {}).items():
        if name in required or field.get("type") != "string" or field.get("format") == "binary":
            continue
        if field.get("minLength", 0) or "pattern" in field:
            outer = {key: field.pop(key) for key in ("description", "title", "default") if key in field}
            schema["properties"][name] = {**outer, "anyOf": [field, {"type": "string", "maxLength": 0}]}


def exact_inputs(result, generator, request, public):
    """Postprocessing hook: string query parameters and request bodies exclude NUL; optional
    string fields of a form body may be sent empty."""
    components = result.get("components", {}).get("schemas", {})
    operations = [
        operation
        for path_item in result.get("paths", {}).values()
        for operation in path_item.values()
        if isinstance(operation, dict)
    ]
    bodies = [
        (media_type, media.get("schema") or {})
        for operation in operations
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items()
    ]
    # Form components only (a component a JSON body shares keeps its JSON rules).
    other = {schema.get("$ref") for media_type, schema in bodies if media_type not in FORMS}
    for media_type, schema in bodies:
        reference = schema.get("$ref")
        if media_type in FORMS and reference and reference not in other:
            _empty_means_omitted(components[reference.rsplit("/", 1)[-1]])
    seen: set = set()
    for operation in operations:
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query":
                _without_nul(parameter.get("schema"), components, seen)
    for _, schema in bodies:
        _without_nul(schema, components, seen)
    return result


class SingleLineCharFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "connext.fields.SingleLineCharField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "pattern": ONE_LINE} if direction == "request" else {"type": "string"}


class HttpURLFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "connext.fields.HttpURLField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "pattern": HTTP_URL} if direction == "request" else {"type": "string"}


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
    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False  # connext.fields.check_object_fields: a 400 naming it
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and field.trim_whitespace
            and not field.allow_blank
            and schema
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            schema["pattern"] = NOT_BLANK  # DRF: "This field may not be blank." for whitespace alone
        if direction == "request" and schema and schema.get("type") == "array":
            # DRF checks these itself; drf-spectacular leaves them out.
            if isinstance(field, (serializers.ListField, serializers.ListSerializer)) and not field.allow_empty:
                schema.setdefault("minItems", 1)
            if isinstance(field, serializers.ListSerializer) and field.max_length is not None:
                schema.setdefault("maxItems", field.max_length)
        return schema

    def _get_request_body(self, direction="request"):
        # drf-spectacular documents bodies of POST, PUT and PATCH only; a DELETE whose view
        # declares a request serializer (`DELETE /blocklist {recipient}`) reads one too.
        if self.method == "DELETE" and self._declares_request_body():
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def _declares_request_body(self) -> bool:
        """Whether @extend_schema(request=...) names a serializer beyond the view's own."""
        if not hasattr(self.view, "get_serializer_class"):  # a plain APIView: only @extend_schema names one
            return self.get_request_serializer() is not None
        declared = self.get_request_serializer()
        declared = declared if declared is None or isinstance(declared, type) else type(declared)
        return declared is not None and declared is not self.view.get_serializer_class()

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
                    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Replays the first response for 24 h instead of acting twice "
                    "(1-255 characters, not all blank).",
                ),
            ]
        return params
