"""Dispatchers: an endpoint's outbox rows, taken in batches and posted with many requests in
flight, the outcomes recorded; retries on WEBHOOK_RETRY_SCHEDULE; endpoints that answer 410 or
fail for WEBHOOK_DISABLE_AFTER_SECONDS disabled.

One dispatcher drains an endpoint at a time: it holds the endpoint's lease (`drain_lease_until`,
WEBHOOK_LEASE_SECONDS, renewed with every batch it records), which gives per-endpoint
concurrency (at most WEBHOOK_CONCURRENCY requests in flight) and order (oldest rows first), and
makes row-level claims unnecessary: a batch is a plain SELECT, and its outcomes are recorded in
one UPDATE per kind of outcome, only while the lease is still the dispatcher's. A batch starts
no request so late that it could end after the lease (rows left unsent stay due, with no
attempt counted). A dispatcher killed mid-batch leaves its lease to end; the sweeper then wakes
the endpoint and the rows go out again under the same `webhook-id` (at least once: receivers
dedupe by it). A drain runs for WEBHOOK_DRAIN_SECONDS at most, then queues itself again behind
other endpoints' work; an endpoint that fails a whole batch waits for its first retry before
the next, so a dead endpoint costs one batch per retry period.
"""

import atexit
import contextlib
import datetime as dt
import logging
import os
import queue
import threading
import time
from collections import defaultdict

from celery import current_app, signature
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from webhooks import store, subscriptions
from webhooks.models import Endpoint, WebhookDelivery
from webhooks.sender import Outcome, WorkerSender
from webhooks.signing import Signer

logger = logging.getLogger(__name__)

PENDING = WebhookDelivery.Status.PENDING
DELIVERED = WebhookDelivery.Status.DELIVERED
FAILED = WebhookDelivery.Status.FAILED
DRAIN_TASK = "webhooks.drain"
# Rows claimed at a time, per request in flight: enough to keep every connection busy while the
# claim and the record (a few statements each) cost little per event.
BATCH_PER_CONCURRENCY = 5
LEASE_MARGIN = 2.0  # seconds a batch's last request ends before its lease does
# A wake-up further off than this is left to the sweeper (a long countdown sits in a worker's
# memory and is redelivered after the broker's visibility timeout).
WAKE_AHEAD_SECONDS = 60.0

_sender = WorkerSender()
atexit.register(_sender.close)


# -- waking ------------------------------------------------------------------------------------


WAKE_KEY_PREFIX = "connext-webhook-wake"


def _wake_key(endpoint_id: int) -> str:
    return f"{WAKE_KEY_PREFIX}:{connection.settings_dict['NAME']}:{endpoint_id}"


def wake(endpoint_ids, *, countdown: float = 0) -> None:
    """Queue a drain of each endpoint, unless one is already queued and not yet started (a flag
    in the cache: thousands of events a second make one task, not thousands). Call after commit."""
    if countdown and current_app.conf.task_always_eager:
        return  # eager mode (tests) would run it at once, over and over: the sweeper wakes it when due
    for endpoint_id in endpoint_ids:
        if store.add(_wake_key(endpoint_id), "1", max(settings.WEBHOOK_LEASE_SECONDS, countdown + 5)):
            # By name: the task module imports this one.
            signature(DRAIN_TASK, args=[endpoint_id]).apply_async(countdown=countdown or None,
                                                                  queue=settings.WEBHOOK_QUEUE)  # fmt: skip


# Wake-ups from the callback path go through a thread of the process that sends them together
# every this many seconds: one SET NX per endpoint per interval instead of one per callback.
WAKE_COALESCE_SECONDS = 0.01
_soon: dict = {"pid": None, "queue": None}


def wake_soon(endpoint_ids) -> None:
    """`wake`, a few milliseconds later, from this process's wake-up thread (a dict of pending
    endpoints and a queue put: nothing on the caller's path waits for Redis). A process that dies
    before its thread sends them leaves the rows to the sweeper. Eager Celery (tests) and the
    embedded mode wake at once. Call after commit."""
    pid = os.getpid()
    # Eager mode turned on after the thread started (the tests' run_jobs) lands in the app's
    # `changes`; reading them costs a dict lookup, the full setting ~25 us (read once).
    if _soon["pid"] != pid or current_app.conf.changes.get("task_always_eager"):
        if current_app.conf.task_always_eager or not store.listen_available():
            wake(endpoint_ids)
            return
        if _soon["pid"] != pid:
            _soon.update(pid=pid, queue=queue.SimpleQueue())
            threading.Thread(target=_wake_loop, args=(_soon["queue"],), name="webhook-wakeups", daemon=True).start()
    _soon["queue"].put(endpoint_ids)


def _take_waiting(pending: queue.SimpleQueue, endpoint_ids: set[int]) -> set[int]:
    """`endpoint_ids` with every endpoint id waiting in `pending` added (without blocking)."""
    with contextlib.suppress(queue.Empty):
        while True:
            endpoint_ids.update(pending.get_nowait())
    return endpoint_ids


@atexit.register
def _wake_pending() -> None:
    """A process that ends normally sends the wake-ups its thread has not sent yet."""
    if _soon["pid"] != os.getpid():
        return
    endpoint_ids = _take_waiting(_soon["queue"], set())
    if endpoint_ids:
        with contextlib.suppress(Exception):
            wake(sorted(endpoint_ids))


def _wake_loop(pending: queue.SimpleQueue) -> None:
    while True:
        first = set(pending.get())
        time.sleep(WAKE_COALESCE_SECONDS)
        endpoint_ids = _take_waiting(pending, first)
        try:
            wake(sorted(endpoint_ids))
        except Exception:  # Redis or the broker away: the sweeper wakes them
            logger.warning("webhook wake-up of %s failed; the sweeper will", sorted(endpoint_ids), exc_info=True)


# -- draining ----------------------------------------------------------------------------------


def drain(endpoint_id: int, *, budget_seconds: float | None = None) -> str:
    """Send the endpoint's due rows until none is left or time is up. Returns "busy" (another
    dispatcher holds the endpoint), "more" (time up: queued again), "backoff" (a whole batch
    failed: woken again at the first retry) or "done". Safe to run twice or to die midway."""
    budget = settings.WEBHOOK_DRAIN_SECONDS if budget_seconds is None else budget_seconds
    lease = _take_endpoint(endpoint_id)
    if lease is None:
        return "busy"  # its holder drains what the wake-up was for (it checks again before it ends)
    deadline = time.monotonic() + budget
    outcome = "done"
    after = 0  # the last id sent: the next batch starts there, not at the front of the index again
    try:
        while True:
            store.delete(_wake_key(endpoint_id))  # events from now on wake a new drain
            endpoint = Endpoint.objects.live().filter(pk=endpoint_id, active=True).first()
            rows = (
                due_rows(endpoint_id, settings.WEBHOOK_CONCURRENCY * BATCH_PER_CONCURRENCY, after) if endpoint else []
            )
            if not rows:
                if after == 0 or endpoint is None:
                    break
                after = 0  # one more pass from the front: retries that came due, rows left unsent
                continue
            after = rows[-1]["id"]
            lease, any_ok = send_batch(endpoint, rows, lease)
            if lease is None:  # the lease ran out and another dispatcher took over: it goes on
                return "busy"
            if not any_ok:
                outcome = "backoff"
                break
            if time.monotonic() > deadline:
                outcome = "more"
                break
    finally:
        if lease is not None:
            Endpoint.objects.filter(pk=endpoint_id, drain_lease_until=lease).update(drain_lease_until=None)
        store.delete(_wake_key(endpoint_id))
    _wake_again(endpoint_id, outcome)
    return outcome


def _wake_again(endpoint_id: int, outcome: str) -> None:
    if outcome == "backoff":
        wake([endpoint_id], countdown=min(retry_delays()[0], WAKE_AHEAD_SECONDS))
    elif outcome == "more":
        wake([endpoint_id])
    else:  # rows that came due meanwhile, or the first retry in backoff if it is soon
        first = (
            WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=PENDING, endpoint__active=True)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if first is not None:
            delay = max(0.0, (first - timezone.now()).total_seconds())
            if delay <= WAKE_AHEAD_SECONDS:
                wake([endpoint_id], countdown=delay)


def _take_endpoint(endpoint_id: int) -> dt.datetime | None:
    now = timezone.now()
    lease = now + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    taken = (
        Endpoint.objects.filter(pk=endpoint_id, active=True, deleted_at=None)
        .filter(Q(drain_lease_until=None) | Q(drain_lease_until__lt=now))
        .update(drain_lease_until=lease)
    )
    return lease if taken else None


def _renew_endpoint(endpoint_id: int, lease: dt.datetime) -> dt.datetime | None:
    """The lease `seconds` from now, if it is still `lease` (ours); else None."""
    renewed = timezone.now() + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    if Endpoint.objects.filter(pk=endpoint_id, drain_lease_until=lease).update(drain_lease_until=renewed):
        return renewed
    return None


def due_rows(endpoint_id: int, limit: int, after: int = 0) -> list[dict]:
    """Up to `limit` due pending rows of the endpoint after id `after`, oldest first (the partial
    index of pending rows by endpoint and id; starting at `after` skips the entries of rows sent
    since the last vacuum, which a scan from the front would step over every time)."""
    return list(
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=PENDING, next_attempt_at__lte=timezone.now())
        .filter(id__gt=after)
        .order_by("id")
        .values("id", "event_id", "payload", "attempts")[:limit]
    )


def signer_for(endpoint: Endpoint) -> Signer:
    secrets = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > timezone.now():
        secrets.append(endpoint.previous_secret)
    return Signer(secrets)


def send_batch(endpoint: Endpoint, rows: list[dict], lease: dt.datetime) -> tuple[dt.datetime | None, bool]:
    """Post the rows and record the outcomes under the endpoint's lease, renewed; returns the
    new lease (None: it was lost, nothing recorded) and whether any attempt succeeded."""
    start_by = time.monotonic() + settings.WEBHOOK_LEASE_SECONDS - settings.WEBHOOK_TIMEOUT_SECONDS - LEASE_MARGIN
    events = [(r["event_id"], r["payload"].encode()) for r in rows]
    outcomes = _sender.send(endpoint.url, signer_for(endpoint), events, start_by)
    with transaction.atomic():
        lease = _renew_endpoint(endpoint.pk, lease)
        if lease is not None:
            record(endpoint, rows, outcomes)
    return lease, any(outcome is not None and outcome.ok for outcome in outcomes)


# -- recording ---------------------------------------------------------------------------------


def retry_delays() -> list[float]:
    return list(settings.WEBHOOK_RETRY_SCHEDULE) or [5.0]


def record(endpoint: Endpoint, rows: list[dict], outcomes: list[Outcome | None]) -> None:
    """The attempts' outcomes (None: not attempted, left as it was): a row delivered, pending
    with its next retry, or failed once the schedule is spent; and the endpoint's health. One
    UPDATE per kind of outcome. Runs in the caller's transaction."""
    now = timezone.now()
    delays = retry_delays()
    groups: dict[tuple, list[int]] = defaultdict(list)
    for row, outcome in zip(rows, outcomes, strict=True):
        attempts = row["attempts"] + 1
        if outcome is None:
            continue
        if outcome.ok:
            key = (DELIVERED, outcome.status_code, "", None)
        elif attempts > len(delays):
            key = (FAILED, outcome.status_code, outcome.error[:2000], None)
        else:
            key = (PENDING, outcome.status_code, outcome.error[:2000], now + dt.timedelta(seconds=delays[attempts - 1]))
        groups[key].append(row["id"])
    for (status, status_code, error, next_at), ids in groups.items():
        WebhookDelivery.objects.filter(id__in=ids, status=PENDING).update(
            status=status, status_code=status_code, last_error=error, next_attempt_at=next_at,
            attempts=F("attempts") + 1, updated_at=now,
        )  # fmt: skip
    note_health(endpoint, [outcome for outcome in outcomes if outcome is not None], now)


def note_health(endpoint: Endpoint, outcomes: list[Outcome], now: dt.datetime) -> None:
    """A success clears the endpoint's failing streak; a 410 disables it at once; failing
    continuously for WEBHOOK_DISABLE_AFTER_SECONDS disables it."""
    if any(outcome.status_code == 410 for outcome in outcomes):
        disable(endpoint.pk, "The endpoint answered 410 Gone.")
    elif any(outcome.ok for outcome in outcomes):
        Endpoint.objects.filter(pk=endpoint.pk).exclude(failing_since=None).update(failing_since=None)
    elif outcomes:
        Endpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
        cutoff = now - dt.timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
        since = Endpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).first()
        if since is not None and since <= cutoff:
            window = settings.WEBHOOK_DISABLE_AFTER_SECONDS
            span = f"{window / 3600:g} h" if window >= 3600 else f"{window:g} s"
            disable(endpoint.pk, f"Every attempt failed for {span} (since {since:%Y-%m-%d %H:%M:%S} UTC).")


def disable(endpoint_id: int, reason: str) -> None:
    if Endpoint.objects.filter(pk=endpoint_id, active=True).update(active=False, disabled_reason=reason[:500]):
        logger.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        subscriptions.changed()


# -- sweeping ----------------------------------------------------------------------------------


def sweep() -> dict:
    """Wake endpoints with due rows and no live dispatcher (a lost wake-up, a dead worker, a
    retry come due)."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(endpoint=OuterRef("pk"), status=PENDING, next_attempt_at__lte=now)
    endpoint_ids = list(
        Endpoint.objects.live()
        .filter(active=True)
        .filter(Q(drain_lease_until=None) | Q(drain_lease_until__lt=now))
        .filter(Exists(due))
        .values_list("id", flat=True)[:1000]
    )
    wake(endpoint_ids)
    return {"woken": len(endpoint_ids)}


PURGE_CHUNK = 10_000


def purge() -> int:
    """Delete deliveries created more than WEBHOOK_RETENTION_DAYS ago (whatever their status:
    the retries end after about a day and a half), then deleted endpoints left without any.
    Ids grow with time: the old rows are those below the first young one, found by walking the
    primary key (no index on created_at: each one costs every event's INSERT)."""
    cutoff = timezone.now() - dt.timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    young = WebhookDelivery.objects.order_by("id").filter(created_at__gte=cutoff).values_list("id", flat=True).first()
    old = WebhookDelivery.objects.all() if young is None else WebhookDelivery.objects.filter(id__lt=young)
    purged = 0
    while ids := list(old.order_by("id").values_list("id", flat=True)[:PURGE_CHUNK]):
        purged += WebhookDelivery.objects.filter(id__in=ids).delete()[0]
    gone = Endpoint.objects.exclude(deleted_at=None).filter(deleted_at__lt=cutoff)
    gone.filter(~Exists(WebhookDelivery.objects.filter(endpoint=OuterRef("pk")))).delete()
    return purged
