"""Reads for devices: the fleet and its numbers."""

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from connext.models import Organization
from devices import queue
from devices.models import Device
from logs import state
from logs.models import Delivery, Kind

SENT_STATUSES = (state.SENT, state.DELIVERED)


def devices_of(organization: Organization) -> QuerySet[Device]:
    return Device.objects.filter(organization=organization)


def _rate(sent: int, failed: int) -> float:
    return round(100.0 * sent / (sent + failed), 1) if sent + failed else 0.0


def _counts(deliveries) -> dict:
    counts = deliveries.aggregate(
        total=Count("id"),
        sent=Count("id", filter=Q(status__in=SENT_STATUSES)),
        failed=Count("id", filter=Q(status=state.FAILED)),
    )
    return {
        "total_messages": counts["total"], "sent": counts["sent"], "failed": counts["failed"],
        "success_rate": _rate(counts["sent"], counts["failed"]),
    }  # fmt: skip


def device_counts(device_ids) -> dict[int, dict]:
    """Per device: texts it took (its last claim), sent (or delivered) and failed."""
    rows = (
        Delivery.objects.filter(provider=state.HELD, provider_id__in=[f"device:{pk}" for pk in device_ids])
        .values("provider_id")
        .annotate(
            total=Count("id"),
            sent=Count("id", filter=Q(status__in=SENT_STATUSES)),
            failed=Count("id", filter=Q(status=state.FAILED)),
        )
    )
    return {int(row["provider_id"].split(":")[1]): row for row in rows}


def stats(organization: Organization) -> dict:
    """`GET /api/stats/`: the organization's texts (every SMS delivery, whichever channel sent
    it) and each of its devices' share."""
    now = timezone.now()
    devices = list(devices_of(organization))
    per_device = device_counts([d.pk for d in devices])
    listed = []
    for device in devices:
        counts = per_device.get(device.pk, {"total": 0, "sent": 0, "failed": 0})
        listed.append({
            "device_id": str(device.pk), "name": device.name,
            "status": "online" if queue.is_online(device, now) else "offline",
            "total_messages": counts["total"], "sent": counts["sent"], "failed": counts["failed"],
            "success_rate": _rate(counts["sent"], counts["failed"]), "sent_today": device.sent_today(now.date()),
        })  # fmt: skip
    deliveries = Delivery.objects.filter(message__organization=organization, channel=Kind.SMS)
    return {**_counts(deliveries), "devices": listed}
