"""The device queue: texts waiting for a phone, claimed atomically, reported, released.

A delivery routed to phones is handed over rendered (`enqueue`) and stays `queued` (held from
the dispatcher, `logs.state.HELD`) until a phone of its fleet claims it (`claim_tasks`): one
transaction locks the device's row (its counters), skips waiting tasks other polls hold
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time), and moves the
deliveries `queued -> sending` under a lease through `logs.state`. The phone reports
sent/delivered/failed (`report`); a claim not reported within its lease, or held by a phone that
stopped heartbeating, goes back to the queue up to DEVICE_MAX_ATTEMPTS times (`release_claims`,
from beat). A task no phone can take within DEVICE_FALLBACK_SECONDS goes back to the dispatcher,
which sends it through the organization's normal channel.
"""

import datetime as dt
import random
from collections.abc import Sequence

from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from connext.errors import ApplicationError
from connext.models import Organization
from devices.models import Device, DeviceRecipient, DeviceTask
from logs import state
from logs.models import Delivery
from logs.segments import sms_info

ONLINE_SECONDS = 60  # a device is online while its last heartbeat is younger than this
WAITING, CLAIMED, REPORTED = DeviceTask.State.WAITING, DeviceTask.State.CLAIMED, DeviceTask.State.REPORTED
FALLBACK, DONE = DeviceTask.State.FALLBACK, DeviceTask.State.DONE
DISPATCH_TASK = "blasts.dispatch"  # by name: devices sits below blasts


def self_managed(organization: Organization) -> bool:
    """Whether the organization sends its texts through its own phones: its SMS route says so
    ("device"), or it names none and has paired a phone. Otherwise it is API-only."""
    route = (organization.routes or {}).get("sms")
    if route is not None:
        return route == "device"
    return Device.objects.filter(organization=organization).exists()


def pool_organization() -> Organization | None:
    name = settings.DEVICE_POOL_ORGANIZATION
    return Organization.objects.filter(name=name).order_by("id").first() if name else None


def fleet_for(organization: Organization, *, pool: bool) -> Organization | None:
    """Whose phones send for the organization: its own, or the shared pool's (None: no pool)."""
    return pool_organization() if pool else organization


def is_online(device: Device, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return device.last_seen_at is not None and now - device.last_seen_at < dt.timedelta(seconds=ONLINE_SECONDS)


def enqueue(rows: Sequence[tuple[int, str, str]], *, fleet: Organization, pinned: Device | None = None) -> None:
    """(delivery id, to, rendered text) into the queue of `fleet`'s phones. Idempotent: a
    delivery handed over again (its dispatcher died mid-hand-over) keeps its first task."""
    fallback_at = timezone.now() + dt.timedelta(seconds=settings.DEVICE_FALLBACK_SECONDS)
    DeviceTask.objects.bulk_create(
        [
            DeviceTask(delivery_id=delivery_id, fleet=fleet, pinned=pinned, to=to, body=body,
                       segments=max(1, sms_info(body).segments), fallback_at=fallback_at)
            for delivery_id, to, body in rows
        ],
        ignore_conflicts=True,
    )  # fmt: skip


def fallen_back(delivery_ids: Sequence[int]) -> set[int]:
    """Which of these deliveries no phone took in time: the normal channel sends them."""
    return set(
        DeviceTask.objects.filter(delivery_id__in=list(delivery_ids), state=FALLBACK).values_list("pk", flat=True)
    )


def _roll_counters(device: Device, today: dt.date) -> None:
    if device.counted_day != today:
        device.counted_day, device.segments_today = today, 0


def claim_tasks(device: Device) -> list[dict]:
    """Claim the tasks `device` may send now, as `[{id, to, message}]`: none when it is inactive,
    offline, or waiting out its minimum delay; never past its daily segment cap or its monthly
    recipient cap; never more than DEVICE_TASKS_PER_POLL held at once (a busy phone leaves the
    rest to its idler peers). Two concurrent polls never get the same task."""
    now = timezone.now()
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)  # one poll of a device at a time
        if not device.active or not is_online(device, now):
            return []
        _roll_counters(device, now.date())
        room = settings.DEVICE_TASKS_PER_POLL - DeviceTask.objects.filter(device=device, state=CLAIMED).count()
        if device.min_delay_seconds > 0:
            if device.next_send_at and device.next_send_at > now:
                return []
            room = min(room, 1)  # the phone sends what it gets at once: one per delay
        cap_left = None if device.daily_cap is None else device.daily_cap - device.segments_today
        if room <= 0 or (cap_left is not None and cap_left <= 0):
            return []
        candidates = list(
            DeviceTask.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(fleet_id=device.organization_id, state=WAITING)
            .filter(Q(pinned=None) | Q(pinned=device))
            # A suspended sender's texts (its organization's `active`, or its parent's) wait.
            .filter(delivery__message__organization__active=True)
            .exclude(delivery__message__organization__parent__active=False)
            .order_by("delivery_id")
            .values_list("delivery_id", "to", "body", "segments")[: room * 2]
        )
        picked = _within_limits(device, candidates, room, cap_left, now)
        lease = now + dt.timedelta(seconds=settings.DEVICE_LEASE_SECONDS)
        moved = state.claim_held([(row[0], f"device:{device.pk}") for row in picked], lease=lease)
        _settle_unclaimable([row[0] for row in picked if row[0] not in moved])
        picked = [row for row in picked if row[0] in moved]
        if not picked:
            return []
        DeviceTask.objects.filter(pk__in=moved).update(
            state=CLAIMED, device=device, lease_expires_at=lease, attempts=F("attempts") + 1
        )
        month = now.date().replace(day=1)
        DeviceRecipient.objects.bulk_create(
            [DeviceRecipient(device=device, month=month, recipient=to) for to in {row[1] for row in picked}],
            ignore_conflicts=True,
        )
        device.segments_today += sum(row[3] for row in picked)
        if device.min_delay_seconds > 0:
            delay = device.min_delay_seconds + random.uniform(0, device.jitter_seconds)
            device.next_send_at = now + dt.timedelta(seconds=delay)
        device.save(update_fields=["counted_day", "segments_today", "next_send_at"])
    return [{"id": str(pk), "to": to, "message": body} for pk, to, body, _ in picked]


def _within_limits(device: Device, candidates: list, room: int, cap_left: int | None, now) -> list:
    """The candidates the device may take: up to `room`, within its segments left today and its
    distinct recipients left this month (a number it texted this month is free)."""
    month = now.date().replace(day=1)
    recipients_left, known = None, set()
    if device.monthly_recipient_cap is not None:
        texted = DeviceRecipient.objects.filter(device=device, month=month)
        known = set(texted.filter(recipient__in={row[1] for row in candidates}).values_list("recipient", flat=True))
        recipients_left = device.monthly_recipient_cap - texted.count()
    picked, new, segments = [], set(), 0
    for row in candidates:
        if len(picked) == room:
            break
        if cap_left is not None and segments + row[3] > cap_left:
            continue
        fresh = row[1] not in known and row[1] not in new
        if fresh and recipients_left is not None and len(new) >= recipients_left:
            continue
        picked.append(row)
        segments += row[3]
        if fresh:
            new.add(row[1])
    return picked


def _settle_unclaimable(ids: list[int]) -> None:
    """Tasks whose delivery was not waiting any more: canceled (done for the queue), or still
    being handed over by a dispatcher (left waiting)."""
    if ids:
        gone = Delivery.objects.filter(pk__in=ids).exclude(status__in=[state.QUEUED, state.SENDING])
        DeviceTask.objects.filter(pk__in=gone.values("pk")).update(state=DONE, lease_expires_at=None)


REPORTABLE = (state.SENT, state.DELIVERED, state.FAILED)


def report(device: Device, task_id: int, status: str, error: str = "") -> str:
    """What the phone says of a task it holds (or held last): applied like a provider's callback,
    forward only and idempotent. Returns the delivery's status after it. Raises 404 for a task
    the device never held."""
    now = timezone.now()
    with transaction.atomic():
        task = DeviceTask.objects.select_for_update().filter(pk=task_id, device=device).first()
        if task is None:
            raise ApplicationError("No such task for this device.", status_code=404)
        if task.state in (WAITING, CLAIMED):
            # Out of the queue: a late report of a released task is still the truth about it.
            task.state, task.lease_expires_at = REPORTED, None
            task.save(update_fields=["state", "lease_expires_at"])
        code = "device-failed" if status == state.FAILED else ""
        row = (task.pk, now, f"device:{device.pk}", code, error[:500])
        if state.apply_callbacks(status, [row], provider=state.HELD):
            return status
    return Delivery.objects.filter(pk=task_id).values_list("status", flat=True).first()  # it was past that


def let_go(device: Device) -> int:
    """Everything `device` holds goes back to the queue now, and tasks pinned to it are free for
    the rest of its fleet (it was switched off, removed, or went offline)."""
    DeviceTask.objects.filter(pinned=device, state=WAITING).update(pinned=None)
    return _release(DeviceTask.objects.filter(device=device, state=CLAIMED))


def _release(claims) -> int:
    """Claimed tasks back to waiting (their delivery `sending -> queued`), or failed for good after
    DEVICE_MAX_ATTEMPTS claims. Returns how many were released or failed."""
    done = 0
    while True:
        with transaction.atomic():
            rows = list(claims.select_for_update(skip_locked=True).values_list("pk", "attempts")[:500])
            if not rows:
                return done
            retry = [pk for pk, attempts in rows if attempts < settings.DEVICE_MAX_ATTEMPTS]
            spent = [pk for pk, attempts in rows if attempts >= settings.DEVICE_MAX_ATTEMPTS]
            # The deliveries' own lease values: a claim is only ever changed under its task's lock, held here.
            state.requeue_unsent(list(Delivery.objects.filter(pk__in=retry, status=state.SENDING).values_list(
                "pk", "lease_expires_at")))  # fmt: skip
            message = (
                f"No phone reported this text within its lease, {settings.DEVICE_MAX_ATTEMPTS} times; not retried."
            )
            state.record_failed([(pk, "device-lease-expired", message) for pk in spent], provider=state.HELD,
                                lease=None)  # fmt: skip
            DeviceTask.objects.filter(pk__in=retry).update(state=WAITING, lease_expires_at=None, pinned=None)
            DeviceTask.objects.filter(pk__in=spent).update(state=DONE, lease_expires_at=None)
            done += len(rows)


def release_claims() -> dict:
    """The devices' sweep (beat, every DEVICE_SWEEP_INTERVAL): claims past their lease or held by
    a phone silent for DEVICE_OFFLINE_RELEASE_SECONDS go back to the queue; tasks pinned to a
    phone that cannot send them are freed; tasks no phone could take within
    DEVICE_FALLBACK_SECONDS go to the dispatcher (the organization's normal channel)."""
    now = timezone.now()
    silent = now - dt.timedelta(seconds=settings.DEVICE_OFFLINE_RELEASE_SECONDS)
    unfit = Device.objects.filter(Q(last_seen_at=None) | Q(last_seen_at__lt=silent) | Q(active=False))
    released = _release(
        DeviceTask.objects.filter(state=CLAIMED).filter(Q(lease_expires_at__lt=now) | Q(device__in=unfit))
    )
    unpinned = _unpin(now)
    fell_back = _fall_back(now)
    return {"released": released, "unpinned": unpinned, "fallback": fell_back}


def _available(devices, now) -> list[Device]:
    """The devices that could take a task now: active, online, under their daily cap."""
    today = now.date()
    return [
        d for d in devices
        if d.active and is_online(d, now) and (d.daily_cap is None or d.sent_today(today) < d.daily_cap)
    ]  # fmt: skip


def _unpin(now) -> int:
    """A device asked for by a send but offline, switched off or at its cap: its queued work
    moves to the rest of its fleet."""
    pinned = Device.objects.filter(
        pk__in=DeviceTask.objects.filter(state=WAITING).exclude(pinned=None).values("pinned")
    )
    able = {d.pk for d in _available(pinned, now)}
    stuck = [d.pk for d in pinned if d.pk not in able]
    return DeviceTask.objects.filter(state=WAITING, pinned__in=stuck).update(pinned=None) if stuck else 0


def _fall_back(now) -> int:
    """Waiting tasks past their fallback time in a fleet with no device able to take them."""
    overdue = DeviceTask.objects.filter(state=WAITING, fallback_at__lte=now)
    fleets = set(overdue.values_list("fleet_id", flat=True).distinct())
    able = {d.organization_id for d in _available(Device.objects.filter(organization_id__in=fleets), now)}
    moved = 0
    for fleet_id in fleets - able:
        while True:
            with transaction.atomic():
                ids = list(
                    overdue.filter(fleet_id=fleet_id)
                    .select_for_update(skip_locked=True)
                    .values_list("pk", flat=True)[:1000]
                )
                if not ids:
                    break
                DeviceTask.objects.filter(pk__in=ids).update(state=FALLBACK)
                state.release_held(ids)
                messages = set(Delivery.objects.filter(pk__in=ids).values_list("message_id", flat=True))
                transaction.on_commit(lambda messages=messages: _wake_dispatch(messages), robust=True)
                moved += len(ids)
    return moved


def _wake_dispatch(message_ids) -> None:
    for message_id in message_ids:
        signature(DISPATCH_TASK, args=(message_id,)).apply_async()
