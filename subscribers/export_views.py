"""GET /subscribers/export: the organization's subscribers as CSV, streamed.

The filters are those of GET /subscribers (`keyword`, `group`, `sort`, `order`), checked
before the first byte is sent, so a bad one is a JSON 400 like every other error. There is
no pagination: every matching row, read from the database in chunks while the response is
written, so memory stays flat whatever the size of the organization.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import islice

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation

from connext.viewsets import ConnextAPIView
from subscribers import attributes, selectors
from subscribers.models import Subscriber
from subscribers.serializers import SubscriberSerializer
from subscribers.views import LIST_PARAMETERS, search_params

# The API's subscriber shape, one column per field; then one `attr.NAME` column per attribute
# name the organization uses (subscribers.attributes.known), in name order.
COLUMNS = [name for name in SubscriberSerializer.Meta.fields if name != "attributes"]
# Subscriber fields read, in CSV order; then groups and the blocked flags.
VALUE_FIELDS = COLUMNS[:12]
# Rows per database round trip (and per groups query).
CHUNK_SIZE = 2000
# Bytes gathered before handing a piece of the body to the server: fewer, larger writes.
FLUSH_BYTES = 64 * 1024

# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection",
# OWASP): such a cell of free text gets a leading apostrophe, which spreadsheets show as text.
# Phones are left alone: they are always E.164 ("+15551234567"), never a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

DESCRIPTION = (
    "Every subscriber of the organization matching the filters of `GET /subscribers`, as CSV "
    "(RFC 4180, UTF-8, CRLF line ends, no pagination), streamed. The first row is the header "
    f"`{','.join(COLUMNS)}`, then one `attr.NAME` column per custom attribute the organization uses, "
    "in name order (empty where a subscriber has none; booleans as true/false). `groups` lists the group "
    "numbers separated by spaces (`1 4 7`); "
    "`enabled`, `text`, `whatsapp`, `phoneBlocked` and `emailBlocked` are 0 or 1. A text cell starting with "
    "`= + - @`, a tab or a carriage return is prefixed with `'` so spreadsheets do not run it as "
    "a formula; phones are E.164 and never altered. Errors are JSON, as everywhere."
)


def _safe(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_rows(queryset: QuerySet[Subscriber], names: list[str] = ()) -> Iterator[list]:
    """The CSV rows of a selectors.subscriber_search queryset: its filters, its order, its blocked flags.

    Plain values, not model instances: a groups prefetch builds a related manager per row and
    cost five times the rest of the export. iterator() keeps no result cache; on PostgreSQL it
    reads through a server-side cursor, CHUNK_SIZE rows per round trip, plus one groups query per chunk.
    """
    values = queryset.values_list(
        *VALUE_FIELDS, "phone_blocked", "email_blocked", *(["attributes"] if names else []), named=True
    ).iterator(chunk_size=CHUNK_SIZE)
    while chunk := list(islice(values, CHUNK_SIZE)):
        groups = selectors.subscriber_group_numbers([s.id for s in chunk])
        for s in chunk:
            yield [
                s.id,
                _safe(s.first),
                _safe(s.last),
                s.phone,
                _safe(s.email),
                _safe(s.address),
                _safe(s.city),
                _safe(s.state),
                _safe(s.zip),
                int(s.enabled),
                int(s.text),
                int(s.whatsapp),
                " ".join(map(str, groups.get(s.id, []))),
                int(s.phone_blocked),
                int(s.email_blocked),
                *(_safe(attributes.render_value((s.attributes or {}).get(name))) for name in names),
            ]


def csv_chunks(rows: Iterable[list], names: list[str] = ()) -> Iterator[str]:
    """The header, then the rows, in pieces of about FLUSH_BYTES."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*COLUMNS, *(attributes.PREFIX + name for name in names)])
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class FixedContentNegotiation(BaseContentNegotiation):
    """The body is CSV whatever `Accept` says (`text/csv`, a browser's, none); errors are JSON.

    DRF's default would answer `Accept: text/csv` with 406, the API having only a JSON renderer.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ExportView(ConnextAPIView):
    # HEAD runs GET without sending the body: it needs the same permission.
    permission_map = {"GET": ["subscribers.view_subscriber"], "HEAD": ["subscribers.view_subscriber"]}
    content_negotiation_class = FixedContentNegotiation

    @extend_schema(
        operation_id="subscribers_export",
        summary="Export subscribers as CSV",
        description=DESCRIPTION,
        parameters=[
            *LIST_PARAMETERS,
            OpenApiParameter(
                "Content-Disposition",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description='`attachment; filename="subscribers.csv"`',
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description='CSV file, sent as an attachment named "subscribers.csv".',
            )
        },
    )
    def get(self, request):
        queryset = selectors.subscriber_search(request.user.organization, **search_params(request))
        names = attributes.known(request.user.organization.pk)
        response = StreamingHttpResponse(
            csv_chunks(csv_rows(queryset, names), names), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="subscribers.csv"'
        return response
