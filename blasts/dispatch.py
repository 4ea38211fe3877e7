"""Dispatch: a message's queued deliveries leased in batches, rendered, handed to their channel,
and the results recorded.

A dispatcher only sends what it leased (`logs.state.claim`), and records results only under
that lease, so a dispatcher that outlived its lease writes nothing over what the sweeper
settled. Transient provider errors go back to `queued` with a backoff (or the provider's
Retry-After); permanent ones fail with the provider's code and message.
"""

import datetime as dt
import time
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from blasts.channels import Outgoing, Result, channel_for, sender_for
from blasts.outgoing import Renderer
from connext.db import retry_on_conflict
from connext.throttling import limits_storage
from logs import state
from logs.models import Delivery, Kind, Message
from logs.reports import Refusal, block_refused

MAX_RETRY_AFTER = 3600.0


def dispatch(message_id: int, *, budget_seconds: float | None = None) -> str:
    """Send a message's ready deliveries in leased batches until none is left or time is up.

    Returns "more" when time is up (the caller re-enqueues), else "done": nothing ready is
    left, though retries in backoff may be (`next_retry_at` says when the first is due).
    """
    budget = settings.DISPATCH_TASK_SECONDS if budget_seconds is None else budget_seconds
    message = Message.objects.select_related("user", "organization").filter(pk=message_id).first()
    if message is None:
        return "done"
    renderer = Renderer(message)
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        if Message.objects.filter(pk=message_id).exclude(canceled_at=None).exists():
            # Canceled: a row queued again after the cancel (a retry that raced it) goes too.
            state.cancel(message_id)
            break
        ids, lease = state.claim(message_id, settings.DISPATCH_BATCH_SIZE, settings.DELIVERY_LEASE_SECONDS)
        if not ids:
            break
        rows = list(
            Delivery.objects.filter(id__in=ids).values("id", "channel", "recipient", "subscriber_id", "attempts")
        )
        send_rows(message, renderer, rows, lease)
    else:
        return "more"
    return "done"


def next_retry_at(message_id: int) -> dt.datetime | None:
    return Delivery.objects.filter(message_id=message_id, status=state.QUEUED).aggregate(at=Min("not_before"))["at"]


def send_rows(message: Message, renderer: Renderer, rows: list[dict], lease: dt.datetime) -> None:
    """Render, send and record one leased batch."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_kind[row["channel"]].append(row)
    for kind, kind_rows in by_kind.items():
        channel = channel_for(kind, message.organization)
        items = renderer.render(kind_rows, sender=sender_for(kind, message.organization))
        attempts = {row["id"]: row["attempts"] for row in kind_rows}
        results = []
        for chunk in _rate_limited(channel, items):
            results += channel.send_batch(chunk)
        record_results(message, channel, results, lease, attempts)


def record_results(message: Message, channel, results: list[Result], lease, attempts: dict[int, int]) -> None:
    sent = [(r.delivery_id, r.provider_id) for r in results if r.ok]
    failed, retry, fallback = [], [], []
    now = timezone.now()
    for r in results:
        if r.ok:
            continue
        message_text = r.error_message[:1000]
        if r.transient and attempts.get(r.delivery_id, 1) < settings.DELIVERY_MAX_ATTEMPTS:
            # A provider's Retry-After wins, within reason (an HTTP date can be far off).
            delay = min(r.retry_after, MAX_RETRY_AFTER) if r.retry_after else _backoff(attempts.get(r.delivery_id, 1))
            retry.append((r.delivery_id, r.error_code, message_text, now + dt.timedelta(seconds=delay)))
        else:
            failed.append((r.delivery_id, r.error_code, message_text))
            if message.voice_fallback and r.refusal == Refusal.NOT_MOBILE:
                fallback.append(r.delivery_id)
    _record_batch(message, channel.name, lease, sent, failed, retry, fallback)
    channel.after_sent([delivery_id for delivery_id, _ in sent])
    # The provider refused the number because it opted out there (replied STOP to us): our
    # blocklist agrees, as it does when a status callback says so.
    block_refused([r.delivery_id for r in results if not r.ok and r.refusal == Refusal.OPTED_OUT], Refusal.OPTED_OUT)


@retry_on_conflict()  # the sends are out: losing their record to a deadlock would leave them to the sweeper
def _record_batch(message: Message, provider: str, lease, sent, failed, retry, fallback) -> None:
    with transaction.atomic():
        state.record_sent(sent, provider=provider, lease=lease)
        state.record_failed(failed, provider=provider, lease=lease)
        state.record_retry(retry, lease=lease)
        if fallback:
            _voice_fallback(message, fallback)


def _voice_fallback(message: Message, delivery_ids: list[int]) -> None:
    """Numbers a text could not reach (not mobile): call them instead."""
    rows = Delivery.objects.filter(id__in=delivery_ids).values("subscriber_id", "recipient")
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
