"""POST /subscribers/imports (start an import job) and GET /subscribers/imports/{id} (its progress)."""

import json

from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.fields import empty
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.utils import html

from connext.errors import ApplicationError, PayloadTooLarge
from connext.fields import IntBooleanField, StrictCharField
from connext.models import User
from connext.parsers import UnboundedJSONParser
from connext.schema import WHITESPACE, ErrorSerializer
from connext.viewsets import ConnextAPIView
from subscribers import imports
from subscribers.fetch import UnsafeURL, check_url
from subscribers.imports import ImportJobSerializer
from subscribers.models import ImportJob
from subscribers.services import groups_for_numbers

# Room for the form fields and multipart framing around an uploaded file.
FORM_OVERHEAD_BYTES = 64 * 1024
SOURCES = ("file", "url", "subscribers")
# GroupNumbersInput's text: numbers >= 1 in ASCII digits separated by commas, whitespace around them
# and empty parts allowed.
_NUMBER = rf"[{WHITESPACE}]*(0*[1-9][0-9]*[{WHITESPACE}]*)?"
GROUP_NUMBERS_TEXT = rf"^{_NUMBER}(,{_NUMBER})*$"


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "integer", "minimum": 1}},
            {"type": "string", "pattern": GROUP_NUMBERS_TEXT, "example": "1,4"},
        ],
        "description": "Group numbers: an array, or comma-separated numbers (multipart forms).",
    }
)
class GroupNumbersInput(serializers.Field):
    default_error_messages = {"invalid": 'Must be group numbers: [1, 4] or "1,4".'}

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):
            if self.field_name not in dictionary:
                return empty
            return ",".join(dictionary.getlist(self.field_name))
        return dictionary.get(self.field_name, empty)

    def to_internal_value(self, data):
        if isinstance(data, str):
            parts = [part.strip() for part in data.split(",")]
            if not all(part.isascii() and part.isdigit() for part in parts if part):  # GROUP_NUMBERS_TEXT
                self.fail("invalid")
            numbers = [int(part) for part in parts if part]
        elif isinstance(data, list) and all(type(n) is int for n in data):
            numbers = data
        else:
            self.fail("invalid")
        if any(n < 1 for n in numbers):
            self.fail("invalid")
        return list(dict.fromkeys(numbers))


class ImportRowSerializer(serializers.Serializer):
    """One subscriber of a JSON import (documentation only: rows are checked one by one by the job)."""

    first = serializers.CharField(required=False)
    last = serializers.CharField(required=False)
    phone = serializers.CharField(required=False, help_text="10-digit national (org region), formatted, or E.164.")
    email = serializers.CharField(required=False)
    address = serializers.CharField(required=False)
    city = serializers.CharField(required=False)
    state = serializers.CharField(required=False)
    zip = serializers.CharField(required=False)
    enabled = IntBooleanField(required=False)
    text = IntBooleanField(required=False)
    whatsapp = IntBooleanField(required=False, help_text="Opted in to WhatsApp.")
    attributes = serializers.DictField(
        required=False,
        help_text="Custom attributes, as on a subscriber; merged into an existing subscriber's. In a CSV file, "
        "every column that is not a subscriber field (`COLOR`, or `attr.COLOR` as the export writes it) is one.",
    )


class RowsInput(serializers.Field):
    """An array; its elements are checked by the job, each bad one reported with its index."""

    default_error_messages = {"invalid": "Must be an array of subscriber objects."}

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("invalid")
        return data


class RowsInputSchema(OpenApiSerializerFieldExtension):
    """Rows shaped as ImportRow, but the request takes any element: the job checks each one and
    reports a bad one with its index, it does not refuse the import (the schema says so: anyOf
    ImportRow or anything)."""

    target_class = RowsInput

    def map_serializer_field(self, auto_schema, direction):
        row = auto_schema.resolve_serializer(ImportRowSerializer, direction).ref
        return {"type": "array", "items": {"anyOf": [row, {}]}}


class _ImportOptions(serializers.Serializer):
    refuses_unknown_fields = True  # in to_internal_value below; the schema says so (connext.schema)

    groups = GroupNumbersInput(required=False, help_text="Add every imported subscriber to these groups.")
    updateExisting = IntBooleanField(
        required=False,
        default=True,
        help_text="1 (default): a row matching a subscriber by phone or email updates it with the row's non-empty "
        "values and groups. 0: such rows are left untouched and counted as skipped.",
    )
    notifyUrl = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=2048,
        help_text="Receives a POST of the job object (as GET returns it) when the job ends, done or failed.",
    )

    def to_internal_value(self, data):
        if not hasattr(data, "keys"):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class ImportUploadSerializer(_ImportOptions):
    file = serializers.FileField(
        required=False,
        help_text="CSV with a header row (columns matched by name, case-insensitively, with common aliases) "
        "or a JSON array of objects; told apart by extension, content type, then first character.",
    )
    url = StrictCharField(required=False, max_length=2048, help_text="Or: an http(s) URL of such a file.")


class ImportJSONSerializer(_ImportOptions):
    url = StrictCharField(
        required=False,
        max_length=2048,
        help_text="An http(s) URL of a CSV or JSON file, fetched by the job. Private addresses are refused.",
    )
    subscribers = RowsInput(required=False)


class ImportCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ImportJob.Status.choices)


def max_request_bytes() -> int:
    """The largest request body an import may send: the import limit, plus room for the
    multipart framing and form fields around a file (or the spacing of a JSON body)."""
    return imports.max_import_bytes() + FORM_OVERHEAD_BYTES


def _refuse_oversized(request) -> None:
    """413 before reading a body that can't fit, whatever carries it. (Served by
    connext.wsgi, such a body is refused before it reaches Django at all.)"""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_request_bytes():
        raise PayloadTooLarge(f"An import is at most {imports.max_import_bytes()} bytes.")


def _checked_url(url: str, field: str) -> str:
    try:
        check_url(url)
    except UnsafeURL as exc:
        raise ApplicationError(str(exc), field=field) from None
    return url.strip()


def import_start(*, user: User, data: dict, multipart: bool) -> ImportJob:
    """The job of a checked import request (ImportUploadSerializer or ImportJSONSerializer's
    data): one source, the organization's groups, a safe notifyUrl. The API and the admin
    start imports here. Raises ApplicationError or PayloadTooLarge."""
    limit = imports.max_import_bytes()
    given = [name for name in SOURCES if data.get(name) is not None]
    if len(given) != 1:
        allowed = "file or url" if multipart else "url or subscribers"
        problem = "got " + " and ".join(given) if given else "none was given"
        raise ApplicationError(f"Give exactly one source, {allowed} ({problem}).")
    org = user.organization
    groups = data.get("groups", [])
    groups_for_numbers(org, groups, field="groups")
    notify_url = _checked_url(data["notifyUrl"], "notifyUrl") if data.get("notifyUrl") else ""

    job_source = {"source": "", "source_format": "", "payload": None}
    if "file" in given:
        upload = data["file"]
        if upload.size > limit:
            raise PayloadTooLarge(f"The file is larger than the {limit} bytes allowed.")
        payload = upload.read()
        job_source = {
            "source": upload.name or "",
            "source_format": imports.detect_format(upload.name or "", upload.content_type or "", payload[:64]),
            "payload": payload,
        }
    elif "url" in given:
        job_source["source"] = _checked_url(data["url"], "url")
    else:
        payload = json.dumps(data["subscribers"], separators=(",", ":")).encode()
        if len(payload) > limit:
            raise PayloadTooLarge(f"An import is at most {limit} bytes.")
        job_source = {"source": "", "source_format": "json", "payload": payload}

    return imports.import_create(
        organization=org,
        created_by=user,
        group_numbers=groups,
        update_existing=data["updateExisting"],
        notify_url=notify_url,
        **job_source,
    )


class ImportCreateView(ConnextAPIView):
    """Start a subscriber import; poll GET /subscribers/imports/{id} or give a notifyUrl."""

    permission_map = {"POST": ["subscribers.add_subscriber", "subscribers.change_subscriber"]}
    parser_classes = [UnboundedJSONParser, MultiPartParser]  # bodies bounded by _refuse_oversized

    def initial(self, request, *args, **kwargs):
        _refuse_oversized(request)  # before anything reads the body (the Idempotency-Key's hash does)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="Import subscribers",
        description="One source: a multipart `file` (CSV or JSON array), a JSON `url`, or JSON `subscribers`. "
        "The job runs in the background. A bad row is reported with its line and skipped; it never aborts "
        "the import. A phone or email already on an earlier row of the file is reported (the first row wins).",
        request={"multipart/form-data": ImportUploadSerializer, "application/json": ImportJSONSerializer},
        responses={
            202: ImportCreatedSerializer,
            413: OpenApiResponse(ErrorSerializer, description="The upload is larger than the import limit."),
            415: OpenApiResponse(ErrorSerializer, description="Neither JSON nor multipart/form-data."),
        },
    )
    def post(self, request):
        multipart = request.content_type.startswith("multipart/")
        serializer = (ImportUploadSerializer if multipart else ImportJSONSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        job = import_start(user=request.user, data=data, multipart=multipart)
        location = reverse("subscriber-import", kwargs={"pk": job.pk})
        body = ImportCreatedSerializer({"id": job.pk, "status": job.status}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class ImportDetailView(ConnextAPIView):
    """An import job of the caller's organization: status, counters and bad rows."""

    permission_map = {"GET": ["subscribers.view_subscriber"]}

    @extend_schema(summary="Import job progress", responses=ImportJobSerializer)
    def get(self, request, pk):
        job = imports.import_job(request.user.organization, int(pk))
        if job is None:
            raise exceptions.NotFound()
        return Response(ImportJobSerializer(job).data)
