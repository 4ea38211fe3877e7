"""The sweeper (beat, every SWEEP_INTERVAL): restarts what lost task messages and dead workers
left behind. PostgreSQL is the source of truth and a task message only a wake-up, so nothing
is lost when a worker dies or the broker drops a message; it is only late until the next sweep.
"""

import datetime as dt
import logging
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.utils import timezone

from blasts import wakeups
from blasts.channels import Outgoing, channel_for, console, route, sender_for
from blasts.outgoing import Renderer
from connext.models import Organization
from logs import state
from logs.models import Delivery, Kind, Message

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
    # Outlives a sweep (it stops at 80 % of the interval), and frees itself soon when a worker died
    # mid-sweep: the next beat after that sweeps again. Two sweeps at once would only ask twice.
    lock_seconds = 2 * settings.SWEEP_INTERVAL + 10
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

    The provider lists the sends to the address, from the organization's sender, with the
    delivery's text, since shortly before its lease: one that no other delivery has recorded
    is this one; none means it never went out; more than one (or one that two deliveries could
    be) cannot be told apart, and the delivery fails with a clear error rather than be sent
    twice or be marked sent by another's text.

    Lookups run LOOKUP_CONCURRENCY at a time and are recorded LOOKUP_CHUNK at a time, so a
    sweep that runs out of `budget_seconds` keeps what it learned and the next one goes on."""
    deadline = time.monotonic() + budget_seconds
    rows = state.expired_leases()
    organizations = Organization.objects.in_bulk({row["message__organization_id"] for row in rows})
    texts = _texts(rows)
    unknown, asked = [], []
    for row in rows:
        organization = organizations.get(row["message__organization_id"])
        channel = channel_for(row["channel"], organization)
        if channel.can_lookup:
            sender = sender_for(row["channel"], organization)
            item = Outgoing(row["id"], row["channel"], row["recipient"], texts.get(row["id"], ""), sender=sender)
            asked.append((row, channel, item))
        else:
            unknown.append((row["id"], "lease-expired", "The worker stopped while sending; not retried."))
    state.record_failed(unknown, provider="", lease=None)
    recovered = requeued = failed = 0
    messages = set()
    with ThreadPoolExecutor(max_workers=LOOKUP_CONCURRENCY, thread_name_prefix="lease-lookup") as pool:
        for start in range(0, len(asked), LOOKUP_CHUNK):
            if time.monotonic() > deadline:
                break  # the next sweep finds the rest: still expired leases
            chunk = asked[start : start + LOOKUP_CHUNK]
            found, requeue, ambiguous = _decide(chunk, list(pool.map(_candidates, chunk)))
            with transaction.atomic():
                for row, provider, provider_id in found:
                    state.record_sent([(row["id"], provider_id)], provider=provider, lease=row["lease_expires_at"])
                state.requeue_unsent([(row["id"], row["lease_expires_at"]) for row in requeue])
                for row, provider, error in ambiguous:
                    state.record_failed([(row["id"], "lease-expired", error)], provider=provider,
                                        lease=row["lease_expires_at"])  # fmt: skip
            messages.update(row["message_id"] for row in requeue)
            recovered, requeued, failed = recovered + len(found), requeued + len(requeue), failed + len(ambiguous)
    return {"recovered": recovered, "requeued": requeued, "failed": len(unknown) + failed, "messages": messages}


def _decide(chunk: list, answers: list) -> tuple[list, list, list]:
    """Each asked delivery's fate from the provider's candidates: (found, requeue, ambiguous)."""
    listed = {sid for answer in answers if answer is not _UNANSWERED for sid in answer}
    known = set(Delivery.objects.filter(provider_id__in=listed).values_list("provider_id", flat=True))
    fresh = {}
    for (row, _, _), answer in zip(chunk, answers, strict=True):
        if answer is not _UNANSWERED:
            fresh[row["id"]] = [sid for sid in answer if sid not in known]
    # A send two of these deliveries could each be (the same text to the same address) is neither's.
    claimed = Counter(sids[0] for sids in fresh.values() if len(sids) == 1)
    found, requeue, ambiguous = [], [], []
    for row, channel, _ in chunk:
        sids = fresh.get(row["id"])
        if sids is None:
            continue  # unanswered: asked again next sweep
        if not sids:
            requeue.append(row)
        elif len(sids) == 1 and claimed[sids[0]] == 1:
            found.append((row, channel.name, sids[0]))
        else:
            error = (
                f"The worker stopped while sending, and {channel.name} shows {len(sids)} send(s) to this address "
                "that could be this one or another's; not sent again."
            )
            ambiguous.append((row, channel.name, error))
    return found, requeue, ambiguous


def _texts(rows: list[dict]) -> dict[int, str]:
    """The text each delivery was sent with (rendered again: merge fields, its stored short
    links), to tell its send from others to the same address."""
    by_message = defaultdict(list)
    for row in rows:
        by_message[row["message_id"]].append(row)
    texts = {}
    for message in Message.objects.filter(pk__in=by_message).select_related("user"):
        try:
            for item in Renderer(message).render(by_message[message.pk]):
                texts[item.delivery_id] = item.body
        except Exception:  # a text we cannot render again: matched on address and sender alone
            logger.warning("cannot render message %s again for a lease lookup", message.pk, exc_info=True)
    return texts


_UNANSWERED = object()


def _candidates(asked) -> list[str] | object:
    """The provider's candidates for a send a dead dispatcher made, or _UNANSWERED if it could
    not say now (asked again next sweep). Runs in a lookup thread."""
    row, channel, item = asked
    since = row["lease_expires_at"] - dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS + 60)
    try:
        return channel.lookup(item, since)
    except Exception:
        logger.exception("lookup of delivery %s failed; trying again next sweep", row["id"])
        return _UNANSWERED
    finally:
        connections.close_all()  # this thread's own, if the lookup used the database (console)
