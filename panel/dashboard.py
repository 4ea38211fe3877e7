"""What the dashboard shows, read for one organization: the only module that queries for it,
so the figures can move to rolled-up tables without touching the pages.

Messages per day come from the running totals of the messages (logs.MessageCount, kept by
PostgreSQL triggers), not from their deliveries; the rates per channel must group deliveries
by channel, so they are cached (DASHBOARD_CACHE_SECONDS at most) while the totals per day
stay the same."""

import datetime as dt
import hashlib
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from connext.models import Organization
from devices import queue
from devices.models import Device
from logs.models import Delivery, Message, MessageCount
from logs.progress import Progress, progress_of
from logs.selectors import STATUSES, counts_by_message
from subscribers.models import BlocklistEntry

DAYS = 30
LAST_BLASTS = 8


@dataclass(frozen=True)
class ChannelRates:
    channel: str
    total: int
    delivered: int
    failed: int
    pending: int  # queued or sending: not reported yet

    @property
    def delivery_rate(self) -> float:
        reported = self.total - self.pending
        return self.delivered / reported if reported else 0.0

    @property
    def failure_rate(self) -> float:
        reported = self.total - self.pending
        return self.failed / reported if reported else 0.0


def days(org: Organization, today: dt.date | None = None) -> list[dt.date]:
    """The last DAYS days in the organization's time zone, oldest first, today last."""
    today = today or timezone.localdate(timezone=_zone(org))
    return [today - dt.timedelta(days=n) for n in range(DAYS - 1, -1, -1)]


def _zone(org: Organization) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(org.timezone or "UTC")


def _since(org: Organization) -> dt.datetime:
    first = days(org)[0]
    return dt.datetime.combine(first, dt.time.min, tzinfo=_zone(org))


def messages_per_day(org: Organization) -> dict[dt.date, dict[str, int]]:
    """{day: {status: deliveries}} of the messages made on each of the last DAYS days (the
    organization's days), from the running totals on PostgreSQL; SQLite counts deliveries."""
    out = {day: dict.fromkeys(STATUSES, 0) for day in days(org)}
    created = TruncDate("message__created_at", tzinfo=_zone(org))
    if connection.vendor == "postgresql":
        rows = (
            MessageCount.objects.filter(
                message__organization=org, message__created_at__gte=_since(org), key__in=STATUSES
            )
            .annotate(day=created)
            .values("day", "key")
            .annotate(n=Sum("n"))
            .values_list("day", "key", "n")
            .order_by()
        )
    else:
        rows = (
            Delivery.objects.filter(message__organization=org, message__created_at__gte=_since(org))
            .annotate(day=created)
            .values("day", "status")
            .annotate(n=Count("id"))
            .values_list("day", "status", "n")
            .order_by()
        )
    for day, status, n in rows:
        if day in out:
            out[day][status] += n
    return out


def channel_rates(org: Organization, per_day: dict[dt.date, dict[str, int]]) -> list[ChannelRates]:
    """Delivery and failure rates per channel over the last DAYS days.

    Cached for as long as `per_day` (messages_per_day's answer) stays the same: a delivery
    changing status, or a new one, changes those totals, so the rates are never older than
    the chart beside them (statuses only move forward: no two changes cancel out)."""
    version = hashlib.sha256(repr(sorted(per_day.items())).encode()).hexdigest()[:16]
    # With the organization's creation time: a test database hands an id out again after a rollback.
    key = f"panel:channel-rates:{org.pk}:{org.created_at.timestamp()}:{version}"
    rows = cache.get(key)
    if rows is None:
        rows = list(
            Delivery.objects.filter(message__organization=org, message__created_at__gte=_since(org))
            .values_list("channel", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        cache.set(key, rows, settings.DASHBOARD_CACHE_SECONDS)
    by_channel: dict[str, dict[str, int]] = {}
    for channel, status, n in rows:
        by_channel.setdefault(channel, {})[status] = n
    return [
        ChannelRates(
            channel=channel,
            total=sum(counts.values()),
            delivered=counts.get("delivered", 0),
            failed=counts.get("failed", 0),
            pending=counts.get("queued", 0) + counts.get("sending", 0),
        )
        for channel, counts in sorted(by_channel.items())
    ]


def opt_outs_per_day(org: Organization) -> dict[dt.date, int]:
    """{day: recipients who opted out (STOP, an unsubscribe link)} over the last DAYS days."""
    out = dict.fromkeys(days(org), 0)
    rows = (
        BlocklistEntry.objects.filter(organization=org, reason=BlocklistEntry.Reason.STOP, created_at__gte=_since(org))
        .annotate(day=TruncDate("created_at", tzinfo=_zone(org)))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
        .order_by()
    )
    for day, n in rows:
        if day in out:
            out[day] += n
    return out


def last_blasts(org: Organization) -> list[tuple[Message, Progress]]:
    messages = list(Message.objects.filter(organization=org).select_related("user")[:LAST_BLASTS])
    counts = counts_by_message([message.pk for message in messages])
    return [(message, progress_of(message, counts[message.pk])) for message in messages]


def devices_online(org: Organization) -> dict[str, int] | None:
    """{"online": n, "offline": n} of the organization's active devices; None when it has none."""
    devices = list(Device.objects.filter(organization=org, active=True).only("last_seen_at"))
    if not devices:
        return None
    now = timezone.now()
    online = sum(1 for device in devices if queue.is_online(device, now))
    return {"online": online, "offline": len(devices) - online}
