"""Sending a blast: the Message, its fan-out into deliveries, and their dispatch.

    POST /blasts -> blast_create: one Message, counted recipients; after commit `fanout`
    fanout      -> one INSERT ... SELECT per channel (no Python per recipient),
                   then DISPATCH_TASKS dispatchers
    dispatch    -> claim a leased batch, render it, hand it to its channel,
                   record the results; repeat until nothing is ready

PostgreSQL is the source of truth and a task message only a wake-up: every step
is idempotent over the rows (fan-out inserts ON CONFLICT DO NOTHING inside the
transaction that marks the message fanned out; a dispatcher only sends what it
leased), and the sweeper restarts what a lost task message left behind.
"""

import datetime as dt
import logging
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Min
from django.utils import timezone

from blasts import rendering
from blasts.audience import Audience, Plan, audience_for, channel_where, is_audio, plan_for
from blasts.channels import Outgoing, Result, channel_for, console, sendgrid_configured, twilio_configured
from blasts.links import new_code, replace_urls
from blasts.segments import sms_info
from connext.db import retry_on_conflict
from connext.errors import ApplicationError
from connext.models import User
from logs import state
from logs.callbacks import TWILIO_OPTED_OUT, block_opted_out
from logs.models import Delivery, Link, Message
from subscribers.models import BlocklistEntry, Subscriber
from subscribers.services import blocklist_add

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER = 3600.0
PRICE_SETTINGS = {"sms": "PRICE_SMS", "mms": "PRICE_MMS", "voice": "PRICE_VOICE", "email": "PRICE_EMAIL"}


# --- Composing ------------------------------------------------------------------


def count_recipients(audience: Audience, plan: Plan) -> dict[str, int]:
    """Deliveries per channel a fan-out would create now."""
    counts = {}
    with connection.cursor() as cursor:
        for channel in plan.channels:
            _, where, params = channel_where(audience, channel, plan)
            cursor.execute(f"SELECT COUNT(*) FROM subscribers_subscriber s WHERE {where}", params)  # noqa: S608
            counts[channel] = cursor.fetchone()[0]
    return counts


def blast_create(*, user: User, data: dict) -> Message:
    """The Message of a blast to groups; deliveries are made by `fanout` after commit."""
    org = user.organization
    audience = audience_for(org, data["groups"], data.get("dnc", []))
    plan = plan_for(data["types"], has_media=bool(data.get("media")), voice_fallback=data.get("voice_fallback", False))
    external_id = data.get("external_id", "")
    if external_id:
        existing = Message.objects.filter(organization=org, external_id=external_id).values_list("id", flat=True)
        if existing:
            raise ApplicationError("External ID already processed", status_code=409, extra={"id": existing[0]})
    counts = count_recipients(audience, plan)
    try:
        with transaction.atomic():
            message = _message_create(
                user,
                data,
                voice_fallback=data.get("voice_fallback", False),
                group_numbers=data["groups"],
                dnc_numbers=data.get("dnc", []),
                external_id=external_id,
                recipients=sum(counts.values()),
            )
    except IntegrityError:  # the same externalId raced us
        existing = Message.objects.filter(organization=org, external_id=external_id).values_list("id", flat=True)
        raise ApplicationError("External ID already processed", status_code=409, extra={"id": existing[0]}) from None
    _after_commit_fanout(message.pk)
    return message


def _message_create(user: User, data: dict, **fields) -> Message:
    """The Message of a validated blast request; `fields` add what the kind of send sets."""
    return Message.objects.create(
        organization=user.organization,
        user=user,
        types=data["types"],
        message=data.get("message", ""),
        subject=data.get("subject", ""),
        media=data.get("media", []),
        ivr=data.get("ivr", False),
        shorten_links=data.get("shorten_links", False),
        **fields,
    )


def blast_test(*, user: User, data: dict) -> Message:
    """A blast to the calling user's own phone and email, nobody else."""
    org = user.organization
    plan = plan_for(data["types"], has_media=bool(data.get("media")), voice_fallback=False)
    targets = []
    for channel in plan.channels:
        address = user.email.lower() if channel == "email" else user.phone
        if not address:
            what = "email address" if channel == "email" else "phone number"
            raise ApplicationError(f"Your user has no {what} to send the {channel} test to.", field="types")
        targets.append((channel, address))
    blocked = set(
        BlocklistEntry.objects.filter(organization=org, recipient__in=[a for _, a in targets]).values_list(
            "recipient", flat=True
        )
    )
    if all(address in blocked for _, address in targets):
        raise ApplicationError("Your address is on the blocklist; nothing to send.", field="types")
    targets = [(channel, address) for channel, address in targets if address not in blocked]
    message = _message_create(user, data, test=True, fanned_out_at=timezone.now(), recipients=len(targets))
    Delivery.objects.bulk_create(Delivery(message=message, channel=channel, recipient=address)
                                 for channel, address in targets)  # fmt: skip
    _after_commit_dispatch(message.pk, tasks=1)
    return message


def estimate(*, user: User, data: dict) -> dict:
    """Recipients, SMS segments and cost per type for a blast, without sending it."""
    org = user.organization
    audience = audience_for(org, data["groups"], data.get("dnc", []))
    plan = plan_for(data["types"], has_media=data["has_media"], voice_fallback=data.get("voice_fallback", False))
    counts = count_recipients(audience, plan)
    # Merge fields count as their fallback text: the shortest a rendered text can be.
    info = sms_info(rendering.render(data.get("message", ""), {}))
    cost: dict[str, Decimal] = {}
    for channel, recipients in counts.items():
        unit = Decimal(str(getattr(settings, PRICE_SETTINGS[channel])))
        units = recipients * (info.segments or 1) if channel == "sms" else recipients
        cost[channel] = (unit * units).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    # Shown per requested type ("sms" with media is priced as the MMS it becomes); a channel
    # two types share (voice and audio) is counted once in the totals.
    by_type = {t: plan.channel_of(t) for t in data["types"]}
    if plan.voice_fallback_only:
        by_type.setdefault("voice", "voice")
    return {
        "recipients": {t: counts[channel] for t, channel in by_type.items()},
        "totalRecipients": sum(counts.values()),
        "segments": info.segments,
        "encoding": info.encoding,
        "characters": info.characters,
        "cost": {t: float(cost[channel]) for t, channel in by_type.items()},
        "total": float(sum(cost.values(), Decimal(0))),
        "currency": settings.PRICE_CURRENCY,
    }


# Task messages are wake-ups: the rows say what is left to do. If the broker is down at
# commit, the send is still accepted (robust: logged, not raised) and the sweeper sends
# the wake-up again once it answers.
def _after_commit_fanout(message_id: int) -> None:
    from blasts.tasks import fanout_task

    transaction.on_commit(lambda: fanout_task.delay(message_id), robust=True)


def _after_commit_dispatch(message_id: int, *, tasks: int) -> None:
    from blasts.tasks import dispatch_task

    def enqueue():
        for _ in range(tasks):
            dispatch_task.delay(message_id)

    transaction.on_commit(enqueue, robust=True)


# --- Fan-out --------------------------------------------------------------------

INSERT_COLUMNS = (
    "message_id, subscriber_id, channel, recipient, status, attempts, provider, provider_id, "
    "error_code, error_message, digits, clicks"
)


def fanout(message_id: int) -> int:
    """Expand a message's groups into deliveries, once. Returns how many rows it made."""
    with transaction.atomic():
        # NO KEY, as cancel takes it: the two exclude each other, foreign key checks pass.
        message = Message.objects.select_for_update(no_key=True).filter(pk=message_id).first()
        if message is None or message.fanned_out_at is not None:
            return 0  # deleted, or a redelivered task: done already
        audience = Audience(
            organization_id=message.organization_id,
            group_ids=tuple(
                message.organization.groups.filter(number__in=message.group_numbers).values_list("id", flat=True)
            ),
            dnc_ids=tuple(
                message.organization.groups.filter(number__in=message.dnc_numbers).values_list("id", flat=True)
            ),
        )
        plan = plan_for(message.types, has_media=bool(message.media), voice_fallback=message.voice_fallback)
        created = 0
        # Canceled before its fan-out: the rows are made canceled, so its log still shows who.
        status = state.CANCELED if message.canceled_at else state.QUEUED
        if audience.group_ids:  # every group deleted since: nobody to send to
            with connection.cursor() as cursor:
                for channel in plan.channels:
                    column, where, params = channel_where(audience, channel, plan)
                    cursor.execute(
                        f"INSERT INTO logs_delivery ({INSERT_COLUMNS}) "  # noqa: S608 (our SQL, params bound)
                        f"SELECT %s, s.id, %s, s.{column}, %s, 0, '', '', '', '', '', 0 "
                        # In address order: the unique index fills in key order (~15 % faster).
                        f"FROM subscribers_subscriber s WHERE {where} ORDER BY s.{column} "
                        "ON CONFLICT (message_id, channel, recipient) DO NOTHING",
                        [message.pk, channel, status, *params],
                    )
                    created += max(cursor.rowcount, 0)
        message.recipients = created
        message.fanned_out_at = timezone.now()
        message.save(update_fields=["recipients", "fanned_out_at"])
        if created and status == state.QUEUED:
            tasks = max(1, min(settings.DISPATCH_TASKS, -(-created // settings.DISPATCH_BATCH_SIZE)))
            _after_commit_dispatch(message.pk, tasks=tasks)
    return created


# --- Dispatch -------------------------------------------------------------------


class Renderer:
    """Turns a message's deliveries into the channels' `Outgoing` items."""

    def __init__(self, message: Message):
        self.message = message
        self.body = rendering.compile_template(message.message)
        self.subject = rendering.compile_template(message.subject)
        self.media_urls = tuple(m["url"] for m in message.media)
        self.audio_urls = tuple(m["url"] for m in message.media if is_audio(m))
        self.base = settings.PUBLIC_BASE_URL

    def values_for(self, rows: list[dict]) -> dict[int | None, dict]:
        ids = {row["subscriber_id"] for row in rows if row["subscriber_id"]}
        values = {
            s["id"]: s
            for s in Subscriber.objects.filter(id__in=ids).values(
                "id", "first", "last", "phone", "email", "address", "city", "state", "zip"
            )
        }
        if self.message.test and self.message.user_id:
            user = self.message.user
            values[None] = {"first": user.first_name, "last": user.last_name, "phone": user.phone, "email": user.email}
        return values

    def links_for(self, rows: list[dict]) -> dict[int, dict[str, str]]:
        """Existing short links of these deliveries (a retry reuses them)."""
        if not self.message.shorten_links:
            return {}
        out: dict[int, dict[str, str]] = defaultdict(dict)
        for link in Link.objects.filter(delivery_id__in=[r["id"] for r in rows]).values("delivery_id", "url", "code"):
            out[link["delivery_id"]][link["url"]] = link["code"]
        return out

    def render(self, rows: list[dict]) -> list[Outgoing]:
        values = self.values_for(rows)
        existing = self.links_for(rows)
        for _ in range(5):
            new_links: list[Link] = []
            items = []
            for row in rows:
                fields = values.get(row["subscriber_id"]) or {}
                body = self.body.render(fields)
                kind = row["channel"]
                if self.message.shorten_links and kind != "voice":
                    known = dict(existing.get(row["id"], {}))
                    body = replace_urls(body, self._shortener(row["id"], known, new_links))
                items.append(self._outgoing(row, kind, body, fields))
            try:
                if new_links:
                    with transaction.atomic():
                        Link.objects.bulk_create(new_links)
                return items
            except IntegrityError:  # a short code drawn twice (1 in 10^14): render with new codes
                continue
        raise RuntimeError("Could not store short links.")

    def _shortener(self, delivery_id: int, known: dict[str, str], new_links: list[Link]):
        def shorten(url: str) -> str:
            code = known.get(url)
            if code is None:
                link = Link(code=new_code(), delivery_id=delivery_id, url=url)
                new_links.append(link)
                known[url] = code = link.code
            return f"{self.base}/l/{code}"

        return shorten

    def _outgoing(self, row: dict, kind: str, body: str, fields: dict) -> Outgoing:
        delivery_id = row["id"]
        if kind == "email":
            return Outgoing(
                delivery_id=delivery_id,
                kind=kind,
                to=row["recipient"],
                body=body,
                subject=self.subject.render(fields),
                unsubscribe_url=unsubscribe_url(self.message.organization_id, row["recipient"]),
            )
        if kind == "voice":
            return Outgoing(
                delivery_id=delivery_id,
                kind=kind,
                to=row["recipient"],
                body=body,
                media_urls=self.audio_urls,
                voice_url=voice_url(delivery_id),
                status_callback=status_callback_url(delivery_id),
            )
        return Outgoing(
            delivery_id=delivery_id,
            kind=kind,
            to=row["recipient"],
            body=body,
            media_urls=self.media_urls if kind == "mms" else (),
            status_callback=status_callback_url(delivery_id),
        )


def status_callback_url(delivery_id: int) -> str:
    """Where Twilio reports a delivery's status; our id rides in the signed URL."""
    return f"{settings.PUBLIC_BASE_URL}/hooks/twilio/status?d={delivery_id}"


def voice_url(delivery_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}/hooks/twilio/voice/{delivery_id}"


def unsubscribe_url(organization_id: int, email: str) -> str:
    from django.core import signing

    token = signing.dumps({"o": organization_id, "e": email}, salt="connext.unsubscribe", compress=True)
    return f"{settings.PUBLIC_BASE_URL}/u/{token}"


def unsubscribe_target(token: str):
    """(organization, email) of a signed unsubscribe token; None when forged or the
    organization is gone."""
    from django.core import signing

    from connext.models import Organization

    try:
        data = signing.loads(token, salt="connext.unsubscribe")
    except signing.BadSignature:
        return None
    org = Organization.objects.filter(pk=data["o"]).first()
    return None if org is None else (org, data["e"])


def unsubscribe(token: str) -> str | None:
    """Put the address of a signed unsubscribe token on its organization's blocklist."""
    target = unsubscribe_target(token)
    if target is None:
        return None
    org, email = target
    blocklist_add(organization=org, recipient=email, reason=BlocklistEntry.Reason.STOP)
    return email


def dispatch(message_id: int, *, budget_seconds: float | None = None) -> str:
    """Send a message's ready deliveries in leased batches until none is left or time is up.

    Returns "more" when time is up (the caller re-enqueues), else "done": nothing ready is
    left, though retries in backoff may be (`next_retry_at` says when the first is due).
    """
    budget = settings.DISPATCH_TASK_SECONDS if budget_seconds is None else budget_seconds
    message = Message.objects.select_related("user").filter(pk=message_id).first()
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
        channel = channel_for(kind)
        items = renderer.render(kind_rows)
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
            if message.voice_fallback and r.error_code in settings.VOICE_FALLBACK_CODES:
                fallback.append(r.delivery_id)
    _record_batch(message, channel.name, lease, sent, failed, retry, fallback)
    channel.after_sent([delivery_id for delivery_id, _ in sent])
    # Twilio refused the number because it replied STOP to us: our blocklist agrees, as it
    # does when a status callback says so.
    opted_out = [delivery_id for delivery_id, code, _ in failed if code == TWILIO_OPTED_OUT]
    if opted_out:
        block_opted_out(opted_out)


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
        [Delivery(message=message, subscriber_id=r["subscriber_id"], channel="voice", recipient=r["recipient"])
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
    from connext.throttling import _storage

    storage = _storage(settings.RATELIMIT_STORAGE_URL)
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


# --- The sweeper ----------------------------------------------------------------


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
    from blasts.tasks import dispatch_task, fanout_task

    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.SWEEP_STALE_SECONDS)
    unfanned = list(
        Message.objects.filter(fanned_out_at=None, created_at__lte=stale).values_list("id", flat=True)[:1000]
    )
    for message_id in unfanned:
        fanout_task.delay(message_id)
    settled = settle_expired_leases(budget_seconds=max(5.0, 0.8 * settings.SWEEP_INTERVAL))
    stalled = state.messages_needing_dispatch(settings.SWEEP_STALE_SECONDS)
    for message_id in set(stalled) | set(settled["messages"]):
        dispatch_task.delay(message_id)
    receipts = 0
    if not (twilio_configured() and sendgrid_configured()):  # the console channel is in use
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
    unknown, asked = [], []
    for row in rows:
        channel = channel_for(row["channel"])
        if channel.can_lookup:
            asked.append((row, channel))
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
            for (row, channel), provider_id in zip(chunk, pool.map(_provider_id_of, chunk), strict=True):
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
    row, channel = asked
    item = Outgoing(delivery_id=row["id"], kind=row["channel"], to=row["recipient"])
    since = row["lease_expires_at"] - dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS + 60)
    try:
        return channel.lookup(item, since)
    except Exception:
        logger.exception("lookup of delivery %s failed; trying again next sweep", row["id"])
        return _UNANSWERED
    finally:
        connections.close_all()  # this thread's own, if the lookup used the database (console)
