"""What the dashboard shows, read for one organization: the only module that queries for it,
so the figures can move to rolled-up tables without touching the pages.

Messages per day and the rates of blasts on one channel come from the running totals of the
messages (logs.MessageCount, kept by PostgreSQL triggers), not from their deliveries; the
deliveries of blasts on several channels are grouped by channel, and that is cached."""

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

from blasts.audience import plan_for
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

    On PostgreSQL a blast on one channel (most are) is read from its running totals; only the
    deliveries of blasts on several channels are grouped by channel, and that answer is cached
    (DASHBOARD_CACHE_SECONDS at most) for as long as `per_day` (messages_per_day's answer) stays
    the same: a delivery changing status, or a new one, changes those totals (statuses only move
    forward, no two changes cancel out), so the rates are never older than the chart beside them."""
    counts: dict[str, dict[str, int]] = {}
    if connection.vendor == "postgresql":
        single: dict[int, str] = {}
        several: list[int] = []
        recent = Message.objects.filter(organization=org, created_at__gte=_since(org))
        for pk, types, media, voice_fallback in recent.values_list("id", "types", "media", "voice_fallback"):
            channels = plan_for(types, has_media=bool(media), voice_fallback=voice_fallback).channels
            if len(channels) == 1:
                single[pk] = str(channels[0])
            else:
                several.append(pk)
        totals = (
            MessageCount.objects.filter(message__in=recent, key__in=STATUSES)
            .values_list("message_id", "key")
            .annotate(n=Sum("n"))
            .order_by()
        )
        for message_id, status, n in totals:
            if message_id in single:
                _add(counts, single[message_id], status, n)
        rows = _grouped_deliveries(org, per_day, Delivery.objects.filter(message_id__in=several)) if several else []
    else:
        rows = _grouped_deliveries(
            org, per_day, Delivery.objects.filter(message__organization=org, message__created_at__gte=_since(org))
        )
    for channel, status, n in rows:
        _add(counts, channel, status, n)
    return [
        ChannelRates(
            channel=channel,
            total=sum(by_status.values()),
            delivered=by_status.get("delivered", 0),
            failed=by_status.get("failed", 0),
            pending=by_status.get("queued", 0) + by_status.get("sending", 0),
        )
        for channel, by_status in sorted(counts.items())
        if sum(by_status.values())
    ]


def _add(counts: dict[str, dict[str, int]], channel: str, status: str, n: int) -> None:
    by_status = counts.setdefault(channel, {})
    by_status[status] = by_status.get(status, 0) + n


def _grouped_deliveries(org: Organization, per_day: dict, deliveries) -> list[tuple[str, str, int]]:
    """[(channel, status, n)] of `deliveries`, cached while `per_day` stays the same."""
    version = hashlib.sha256(repr(sorted(per_day.items())).encode()).hexdigest()[:16]
    # With the organization's creation time: a test database hands an id out again after a rollback.
    key = f"panel:channel-rates:{org.pk}:{org.created_at.timestamp()}:{version}"
    seconds = settings.DASHBOARD_CACHE_SECONDS  # 0: no cache
    rows = cache.get(key) if seconds > 0 else None
    if rows is None:
        rows = list(deliveries.values_list("channel", "status").annotate(n=Count("id")).order_by())
        if seconds > 0:
            cache.set(key, rows, seconds)
    return rows


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
