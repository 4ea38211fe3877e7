"""`GET /analytics/messages` and `GET /analytics/usage`: read from the rollups (never by scanning
deliveries), in the caller's time zone or the one asked for."""

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from accounts.credits import PLACES
from accounts.views import EARLIEST, FROM, LATEST, TO, date_param
from analytics import rollups
from analytics.serializers import STATUSES, MessagesRowSerializer, UsageSerializer
from connext.errors import ApplicationError
from connext.models import Organization
from connext.viewsets import ConnextAPIView

MAX_DAYS = 400
DEFAULT_DAYS = 30
TIMEZONES = frozenset(zoneinfo.available_timezones())

TIMEZONE = OpenApiParameter(
    "timezone",
    OpenApiTypes.STR,
    enum=sorted(TIMEZONES),
    description="IANA zone of the days; the organization's by default.",
)
MESSAGES_GROUP = OpenApiParameter("groupBy", OpenApiTypes.STR, enum=["day", "channel", "status"],
                                  description="Rows per day (default), channel or status.")  # fmt: skip
USAGE_GROUP = OpenApiParameter("groupBy", OpenApiTypes.STR, enum=["organization"],
                               description="Rows per organization (the only grouping).")  # fmt: skip


def _period(request, org: Organization) -> tuple[zoneinfo.ZoneInfo, str, dt.date, dt.date, dt.datetime, dt.datetime]:
    """The time zone and [from, to] days of the request (default: the last 30 days), as instants."""
    name = request.query_params.get("timezone", org.timezone)
    if name not in TIMEZONES:
        raise ApplicationError("Unknown time zone.", field="timezone")
    zone = zoneinfo.ZoneInfo(name)
    start, end = date_param(request, "from"), date_param(request, "to")
    span = dt.timedelta(days=DEFAULT_DAYS - 1)
    last = end or (min(start, dt.date.max - span) + span if start else dt.datetime.now(zone).date())
    first = start or max(last, dt.date.min + span) - span
    if last < first:
        raise ApplicationError("Must not be before `from`.", field="to")
    if (last - first).days >= MAX_DAYS:
        raise ApplicationError(f"At most {MAX_DAYS} days from `from`.", field="to")
    # Days near year 1 or 9999 overflow once moved to UTC; nothing was sent then anyway.
    begin = dt.datetime.combine(min(max(first, EARLIEST), LATEST), dt.time(), zone)
    finish = dt.datetime.combine(min(max(last, EARLIEST), LATEST) + dt.timedelta(days=1), dt.time(), zone)
    return zone, name, first, last, begin, finish


def _group(request, allowed: list[str]) -> str:
    value = request.query_params.get("groupBy", allowed[0])
    if value not in allowed:
        raise ApplicationError(f"Must be one of {', '.join(allowed)}.", field="groupBy")
    return value


def _money(amount: Decimal) -> str:
    return str(amount.quantize(PLACES))


def _empty(by_status: bool = True) -> dict:
    row = {"total": 0, "billed": 0, "segments": 0, "cost": Decimal(0)}
    if by_status:
        row.update(dict.fromkeys(STATUSES, 0))
    return row


class MessagesAnalyticsView(ConnextAPIView):
    """Deliveries of the organization's messages per day, channel or status: counts per status,
    SMS segments and cost. A delivery counts on the day its blast was created."""

    permission_map = {"GET": ["logs.view_message"]}

    @extend_schema(parameters=[FROM, TO, MESSAGES_GROUP, TIMEZONE], responses={200: MessagesRowSerializer(many=True)})
    def get(self, request):
        org = request.user.organization
        group = _group(request, ["day", "channel", "status"])
        _, name, first, last, begin, finish = _period(request, org)
        rows: dict = {}
        if group == "day":  # every day of the period, those without a send too
            for i in range((last - first).days + 1):
                rows[first + dt.timedelta(days=i)] = _empty()
        for key, status, n, billed, segments, cost in rollups.report([org.pk], begin, finish, group, name):
            row = rows.setdefault(key, _empty(group != "status"))
            row["total"] += n
            row["billed"] += billed
            row["segments"] += segments
            row["cost"] += cost
            if group != "status":
                row[status] = row.get(status, 0) + n
        # Written out by hand: DRF's serializer cost ~0.4 ms a row (MessagesRowSerializer is the schema).
        data = [
            {group: str(key), **values, "cost": _money(values["cost"])}
            for key, values in sorted(rows.items(), key=lambda kv: str(kv[0]))
        ]
        return Response(data)


class UsageAnalyticsView(ConnextAPIView):
    """Usage per organization: yours and each sub-account's messages, segments and cost, and the total."""

    permission_map = {"GET": ["connext.view_organization"]}

    @extend_schema(parameters=[FROM, TO, USAGE_GROUP, TIMEZONE], responses={200: UsageSerializer})
    def get(self, request):
        org = request.user.organization
        _group(request, ["organization"])
        *_, name, _first, _last, begin, finish = _period(request, org)
        orgs = [org, *Organization.objects.filter(parent=org).order_by("id")]
        rows = {o.pk: {"organizationId": o.pk, "name": o.name, "subaccount": 1 if o.parent_id else 0,
                       "messages": 0, "segments": 0, "cost": Decimal(0)} for o in orgs}  # fmt: skip
        report = rollups.report(list(rows), begin, finish, "organization", name, by_status=False)
        for key, _status, _n, billed, segments, cost in report:
            row = rows[key]
            row["messages"] += billed
            row["segments"] += segments
            row["cost"] += cost
        total = {
            "messages": sum(r["messages"] for r in rows.values()),
            "segments": sum(r["segments"] for r in rows.values()),
            "cost": sum((r["cost"] for r in rows.values()), Decimal(0)),
        }
        rows_out = [{**row, "cost": _money(row["cost"])} for row in rows.values()]
        total["cost"] = _money(total["cost"])
        body = {"rows": rows_out, "total": total, "currency": settings.PRICE_CURRENCY}
        return Response(body)  # the shape of UsageSerializer, written out as for the messages
