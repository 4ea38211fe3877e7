"""Dispatch: a message's queued deliveries leased in batches, rendered, handed to their channel,
and the results recorded.

A dispatcher only sends what it leased (`logs.state.claim`), and records results only under
that lease, so a dispatcher that outlived its lease writes nothing over what the sweeper
settled. Transient provider errors go back to `queued` with a backoff (or the provider's
Retry-After); permanent ones fail with the provider's code and message.
"""

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from contextlib import contextmanager

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Min
from django.utils import timezone

from accounts import metering
from blasts.audience import plan_for
from blasts.channels import Outgoing, Result, channel_for, sender_for
from blasts.outgoing import Renderer
from connext.db import retry_on_conflict
from connext.throttling import limits_storage
from logs import state
from logs.models import Delivery, Kind, Message
from logs.reports import Refusal, block_refused

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER = 3600.0


class Lease:
    """A dispatcher's hold on the rows it claimed. While the dispatcher sends, a heartbeat thread
    renews the lease every DELIVERY_LEASE_RENEW_SECONDS (`kept`), so a slow provider or a low
    rate limit never outlives it, and a dead dispatcher's rows are free within
    DELIVERY_LEASE_SECONDS. Renewing and recording hold `lock`: a result is recorded under the
    lease value the rows carry. A row the dispatcher no longer holds is never sent."""

    def __init__(self, ids: list[int], expires_at: dt.datetime):
        self.expires_at = expires_at
        self.held = set(ids)
        self.lock = threading.Lock()
        self._stop = threading.Event()

    def holding(self, ids: list[int]) -> set[int]:
        """Which of `ids` may be sent now: still held, under a lease not about to end (a
        heartbeat that could not renew for most of the lease means the sweeper may soon settle
        the rows: they are left to it rather than risk a second send)."""
        margin = dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS / 3)
        with self.lock:
            if self.expires_at - timezone.now() < margin:
                return set()
            return self.held.intersection(ids)

    def let_go(self, ids) -> None:
        with self.lock:
            self.held.difference_update(ids)

    def renew(self) -> None:
        with self.lock:
            if self.held:
                self.expires_at, self.held = state.renew_lease(
                    sorted(self.held), self.expires_at, settings.DELIVERY_LEASE_SECONDS
                )

    @contextmanager
    def kept(self):
        """Renew the lease in the background for the duration of the block."""
        thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.DELIVERY_LEASE_RENEW_SECONDS):
                try:
                    self.renew()
                except Exception:  # the database is away: try again next beat; `holding` stops sends in time
                    logger.warning("could not renew a dispatch lease", exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection


def dispatch(message_id: int, *, budget_seconds: float | None = None) -> str:
    """Send a message's ready deliveries in leased batches until none is left or time is up.

    Returns "more" when time is up (the caller re-enqueues), else "done": nothing ready is
    left, though retries in backoff may be (`next_retry_at` says when the first is due).
    """
    budget = settings.DISPATCH_TASK_SECONDS if budget_seconds is None else budget_seconds
    message = Message.objects.select_related("user", "organization").filter(pk=message_id).first()
    if message is None or not metering.sending_allowed(message.organization):
        return "done"  # deleted; or its account is suspended: its rows wait, queued
    renderer = Renderer(message)
    batch_size = _batch_size(message)
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        if Message.objects.filter(pk=message_id).exclude(canceled_at=None).exists():
            # Canceled: a row queued again after the cancel (a retry that raced it) goes too.
            state.cancel(message_id)
            break
        ids, expires_at = state.claim(message_id, batch_size, settings.DELIVERY_LEASE_SECONDS)
        if not ids:
            break
        rows = list(
            Delivery.objects.filter(id__in=ids).values("id", "channel", "recipient", "subscriber_id", "attempts")
        )
        lease = Lease(ids, expires_at)
        with lease.kept():
            send_rows(message, renderer, rows, lease)
    else:
        return "more"
    return "done"


def _batch_size(message: Message) -> int:
    """Rows to claim at a time: DISPATCH_BATCH_SIZE, or fewer when a provider's rate limit
    would stretch a batch past half a lease (a second line of defence beside the heartbeat)."""
    size = settings.DISPATCH_BATCH_SIZE
    for kind in plan_for(message.types, has_media=bool(message.media), voice_fallback=message.voice_fallback).channels:
        rate = channel_for(kind, message.organization).rate_per_second
        if rate > 0:
            size = min(size, max(1, int(rate * settings.DELIVERY_LEASE_SECONDS / 2)))
    return size


def next_retry_at(message_id: int) -> dt.datetime | None:
    return Delivery.objects.filter(message_id=message_id, status=state.QUEUED).aggregate(at=Min("not_before"))["at"]


def send_rows(message: Message, renderer: Renderer, rows: list[dict], lease: Lease) -> None:
    """Render, send and record one leased batch, chunk by chunk as the provider's rate allows:
    each chunk only with the rows still held, each recorded as soon as it is answered. Rows
    left unsent (the lease could not be renewed in time) go back to the queue."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_kind[row["channel"]].append(row)
    for kind, kind_rows in by_kind.items():
        channel = channel_for(kind, message.organization)
        items = renderer.render(kind_rows, sender=sender_for(kind, message.organization))
        attempts = {row["id"]: row["attempts"] for row in kind_rows}
        for sender, sender_items in channel.routed(items, message.organization):
            for chunk in _rate_limited(sender, sender_items):
                held = lease.holding([item.delivery_id for item in chunk])
                chunk = [item for item in chunk if item.delivery_id in held]
                if chunk:
                    record_results(message, sender, sender.send_batch(chunk), lease, attempts)
                    lease.let_go(held)
    with lease.lock:  # what was claimed but not sent: queued again (or canceled), if still ours
        state.requeue_unsent([(pk, lease.expires_at) for pk in sorted(lease.held)])


def record_results(message: Message, channel, results: list[Result], lease: Lease, attempts: dict[int, int]) -> None:
    """A chunk's results, recorded under the lease's current value (the heartbeat waits meanwhile)."""
    sent = [(r.delivery_id, r.provider_id) for r in results if r.ok]
    handed_over = [r.delivery_id for r in results if r.held]
    failed, retry, fallback = [], [], []
    now = timezone.now()
    # A provider that asks us to wait (Retry-After: throttling) has not refused the send: the try
    # costs no attempt, for as long as the message is young enough to keep trying.
    patient = now - message.created_at < dt.timedelta(seconds=settings.DELIVERY_RETRY_MAX_SECONDS)
    for r in results:
        if r.ok or r.held:
            continue
        message_text = r.error_message[:1000]
        attempt = attempts.get(r.delivery_id, 1)
        throttled = r.transient and r.retry_after is not None and patient
        if throttled or (r.transient and attempt < settings.DELIVERY_MAX_ATTEMPTS):
            # The provider's Retry-After is a floor (within reason: an HTTP date can be far off).
            delay = max(min(r.retry_after or 0.0, MAX_RETRY_AFTER), _backoff(attempt))
            retry.append((r.delivery_id, r.error_code, message_text, now + dt.timedelta(seconds=delay), not throttled))
        else:
            failed.append((r.delivery_id, r.error_code, message_text))
            if message.voice_fallback and r.refusal == Refusal.NOT_MOBILE:
                fallback.append(r.delivery_id)
    with lease.lock:
        _record_batch(message, channel.name, lease.expires_at, sent, failed, retry, fallback, handed_over)
    channel.after_sent([delivery_id for delivery_id, _ in sent])
    # The provider refused the number because it opted out there (replied STOP to us): our
    # blocklist agrees, as it does when a status callback says so.
    block_refused([r.delivery_id for r in results if not r.ok and r.refusal == Refusal.OPTED_OUT], Refusal.OPTED_OUT)


@retry_on_conflict()  # the sends are out: losing their record to a deadlock would leave them to the sweeper
def _record_batch(message: Message, provider: str, lease, sent, failed, retry, fallback, handed_over) -> None:
    with transaction.atomic():
        state.hold(handed_over, lease=lease)
        state.record_sent(sent, provider=provider, lease=lease)
        state.record_failed(failed, provider=provider, lease=lease)
        state.record_retry(retry, lease=lease)
        if fallback:
            _voice_fallback(message, fallback)


def _voice_fallback(message: Message, delivery_ids: list[int]) -> None:
    """Numbers a text could not reach (not mobile): call them instead."""
    rows = Delivery.objects.filter(id__in=delivery_ids).values("subscriber_id", "recipient")
    called = set(
        Delivery.objects.filter(
            message=message, channel=Kind.VOICE, recipient__in=[r["recipient"] for r in rows]
        ).values_list("recipient", flat=True)
    )
    rows = [r for r in rows if r["recipient"] not in called]
    if not rows or not metering.charge_more(message, Kind.VOICE, len(rows)):
        return  # nobody new to call, or the credits cannot pay the calls
    Delivery.objects.bulk_create(
        [Delivery(message=message, subscriber_id=r["subscriber_id"], channel=Kind.VOICE, recipient=r["recipient"])
         for r in rows],
        ignore_conflicts=True,
    )  # fmt: skip
    Message.objects.filter(pk=message.pk).update(recipients=Delivery.objects.filter(message=message).count())


def _backoff(attempt: int) -> float:
    return min(settings.DELIVERY_RETRY_BASE_SECONDS * 2 ** (attempt - 1), 600)


def _rate_limited(channel, items: list[Outgoing]):
    """Chunks of `items` as the provider's sends-per-second budget (across workers) allows."""
    rate = int(channel.rate_per_second or 0)
    if rate <= 0:
        yield items
        return
    storage = limits_storage(settings.RATELIMIT_STORAGE_URL)
    start = 0
    while start < len(items):
        chunk = items[start : start + rate]
        second = int(time.time())
        used = storage.incr(f"connext-provider/{channel.name}/{second}", 5, amount=len(chunk))
        if used - len(chunk) >= rate:  # this second's budget is gone: wait for the next
            time.sleep(max(0.0, second + 1 - time.time()))
            continue
        allowed = min(len(chunk), rate - (used - len(chunk)))
        yield chunk[:allowed]
        start += allowed
