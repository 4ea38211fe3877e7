"""The sweeper (beat, every SWEEP_INTERVAL): restarts what lost task messages and dead workers
left behind. PostgreSQL is the source of truth and a task message only a wake-up, so nothing
is lost when a worker dies or the broker drops a message; it is only late until the next sweep.
"""

import datetime as dt
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.utils import timezone

from blasts import wakeups
from blasts.channels import Outgoing, channel_for, console, route, sender_for
from connext.models import Organization
from logs import state
from logs.models import Kind, Message

logger = logging.getLogger(__name__)


def sweep_lock() -> str:
    """The cache key of the running sweep: one per database (deployments may share a Redis)."""
    return f"connext-sweep:{connection.settings_dict['NAME']}"


LOOKUP_CHUNK = 50  # expired leases looked up, then recorded, at a time
LOOKUP_CONCURRENCY = 8  # provider lookups in flight


def sweep() -> dict:
    """Restart what lost task messages and dead workers left behind. One sweep at a time:
    a sweep still asking the provider about a dead worker's sends when beat starts the next
    one lets it go (it would ask the same questions again)."""
    lock_seconds = 3 * settings.SWEEP_INTERVAL + 60  # outlives any sweep; frees itself if one dies
    if not cache.add(sweep_lock(), os.getpid(), timeout=lock_seconds):
        return {"skipped": True}
    try:
        return _sweep()
    finally:
        cache.delete(sweep_lock())


def _sweep() -> dict:
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.SWEEP_STALE_SECONDS)
    unfanned = list(
        Message.objects.filter(fanned_out_at=None, created_at__lte=stale).values_list("id", flat=True)[:1000]
    )
    for message_id in unfanned:
        wakeups.wake(wakeups.FAN_OUT, message_id)
    settled = settle_expired_leases(budget_seconds=max(5.0, 0.8 * settings.SWEEP_INTERVAL))
    # A live dispatcher renewed its lease within two heartbeats; a lease older than that is a
    # dead dispatcher's, and its message's queued rows need a new one now, not when it ends.
    renewed_since = settings.DELIVERY_LEASE_SECONDS - 2 * settings.DELIVERY_LEASE_RENEW_SECONDS
    stalled = state.messages_needing_dispatch(
        settings.SWEEP_STALE_SECONDS, live_lease_after=timezone.now() + dt.timedelta(seconds=renewed_since)
    )
    for message_id in set(stalled) | set(settled["messages"]):
        wakeups.wake(wakeups.DISPATCH, message_id)
    receipts = 0
    if any(route(kind) == console.NAME for kind in Kind):  # the console channel is in use
        sent_before = stale - dt.timedelta(seconds=settings.CONSOLE_DELIVERY_DELAY)
        receipts = console.deliver_overdue(sent_before, since=now - dt.timedelta(days=1))
    return {
        "fanout": len(unfanned), "dispatch": len(stalled), "console_receipts": receipts,
        **{k: v for k, v in settled.items() if k != "messages"},
    }  # fmt: skip


def settle_expired_leases(*, budget_seconds: float = 60.0) -> dict:
    """Deliveries whose dispatcher died mid-send. Ask the provider whether each went out:
    sent -> record it; not sent -> queue it again; provider can't tell -> fail it (never
    risk a second send).

    Lookups run LOOKUP_CONCURRENCY at a time and are recorded LOOKUP_CHUNK at a time, so a
    sweep that runs out of `budget_seconds` keeps what it learned and the next one goes on."""
    deadline = time.monotonic() + budget_seconds
    rows = state.expired_leases()
    organizations = Organization.objects.in_bulk({row["message__organization_id"] for row in rows})
    unknown, asked = [], []
    for row in rows:
        organization = organizations.get(row["message__organization_id"])
        channel = channel_for(row["channel"], organization)
        if channel.can_lookup:
            asked.append((row, channel, sender_for(row["channel"], organization)))
        else:
            unknown.append((row["id"], "lease-expired", "The worker stopped while sending; not retried."))
    state.record_failed(unknown, provider="", lease=None)
    recovered = requeued = 0
    messages = set()
    with ThreadPoolExecutor(max_workers=LOOKUP_CONCURRENCY, thread_name_prefix="lease-lookup") as pool:
        for start in range(0, len(asked), LOOKUP_CHUNK):
            if time.monotonic() > deadline:
                break  # the next sweep finds the rest: still expired leases
            chunk = asked[start : start + LOOKUP_CHUNK]
            found, requeue = [], []
            for (row, channel, _), provider_id in zip(chunk, pool.map(_provider_id_of, chunk), strict=True):
                if provider_id is _UNANSWERED:
                    continue
                if provider_id:
                    found.append((row, channel.name, provider_id))
                else:
                    requeue.append((row["id"], row["lease_expires_at"]))
                    messages.add(row["message_id"])
            with transaction.atomic():
                for row, provider, provider_id in found:
                    state.record_sent([(row["id"], provider_id)], provider=provider, lease=row["lease_expires_at"])
                state.requeue_unsent(requeue)
            recovered, requeued = recovered + len(found), requeued + len(requeue)
    return {"recovered": recovered, "requeued": requeued, "failed": len(unknown), "messages": messages}


_UNANSWERED = object()


def _provider_id_of(asked):
    """The provider's id of a send a dead dispatcher made, None if the provider never got it,
    _UNANSWERED if it could not say now (asked again next sweep). Runs in a lookup thread."""
    row, channel, sender = asked
    item = Outgoing(delivery_id=row["id"], kind=row["channel"], to=row["recipient"], sender=sender)
    since = row["lease_expires_at"] - dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS + 60)
    try:
        return channel.lookup(item, since)
    except Exception:
        logger.exception("lookup of delivery %s failed; trying again next sweep", row["id"])
        return _UNANSWERED
    finally:
        connections.close_all()  # this thread's own, if the lookup used the database (console)
