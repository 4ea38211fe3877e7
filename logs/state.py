"""The delivery state machine: the only code that changes `Delivery.status`.

    queued -> sending -> sent -> delivered | failed
    queued -> canceled
    sending -> queued          (a transient provider error: retried after a backoff)
    sending -> delivered | failed   (a callback that overtook our own `sent`)

Every write is a conditional UPDATE (`WHERE status IN (predecessors)`), so a
transition applied twice, or a callback arriving after a later one, changes
nothing: statuses only move forward and the first time of each is kept.

Every write announces each row it changed, once, as a `connext.changes.DeliveryStatusChanged`
(in its transaction for in-transaction listeners, after commit for the others): the UPDATE
returns them (`RETURNING`) when anyone listens. Functions return how many rows changed.

Rows handed to the device queue (`hold`) stay `queued` with provider HELD: the dispatcher, its
claim and its sweeper leave them to the devices app, whose claims move them on (`claim_held`).

A claim marks rows `sending` with a lease (`lease_expires_at`, the same value
for the whole claim). Results are recorded only where that lease still holds:
a dispatcher that outlived its lease (the sweeper has settled its rows) can no
longer write over them.
"""

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from connext import changes
from connext.db import run_prepared
from logs.models import Delivery, Message

QUEUED = Delivery.Status.QUEUED
SENDING = Delivery.Status.SENDING
SENT = Delivery.Status.SENT
DELIVERED = Delivery.Status.DELIVERED
FAILED = Delivery.Status.FAILED
CANCELED = Delivery.Status.CANCELED

# The provider of a queued row held in the device queue (and of one a device sends).
HELD = "device"

# What a callback may move a delivery to, from where.
CALLBACK_PREDECESSORS = {
    SENT: (QUEUED, SENDING),
    DELIVERED: (QUEUED, SENDING, SENT),
    FAILED: (QUEUED, SENDING, SENT),
}


def claim(message_id: int, limit: int, lease_seconds: float) -> tuple[list[int], dt.datetime | None]:
    """Lease up to `limit` ready queued deliveries of a message: queued -> sending.

    Concurrent dispatchers skip each other's locked rows (PostgreSQL); the walk
    uses the partial index of queued rows. Returns the ids and the lease value.
    """
    now = timezone.now()
    lease = now + dt.timedelta(seconds=lease_seconds)
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(message_id=message_id, status=QUEUED)
            .filter(Q(not_before=None) | Q(not_before__lte=now))
            .exclude(provider=HELD)
            .order_by("id")
            .values_list(*_CHANGED[:4])[:limit]
        )
        if not rows:
            return [], None
        ids = [row[0] for row in rows]
        # The rows are locked by this transaction: the UPDATE changes exactly them.
        Delivery.objects.filter(id__in=ids, status=QUEUED).update(
            status=SENDING, attempts=F("attempts") + 1, lease_expires_at=lease, updated_at=now
        )
        if changes.listening():
            changes.announce([changes.DeliveryStatusChanged(*row, status=SENDING) for row in rows])
    return ids, lease


def record_sent(rows: Sequence[tuple[int, str]], *, provider: str, lease: dt.datetime) -> int:
    """(id, provider id) pairs the provider accepted: sending -> sent, under this lease; an
    earlier try's error (a retry) is cleared."""
    now = timezone.now()
    return _update_with_values(
        "status = 'sent', provider = %s, provider_id = v.column2, sent_at = COALESCE(sent_at, %s), "
        "error_code = '', error_message = '', lease_expires_at = NULL, updated_at = %s",
        [provider, now, now],
        rows,
        "status = 'sending' AND lease_expires_at = %s",
        [lease],
    )


def record_failed(rows: Sequence[tuple[int, str, str]], *, provider: str, lease: dt.datetime | None) -> int:
    """(id, error code, error message) of permanent failures: sending -> failed."""
    now = timezone.now()
    where, params = ("status = 'sending' AND lease_expires_at = %s", [lease]) if lease else ("status = 'sending'", [])
    return _update_with_values(
        "status = 'failed', provider = %s, error_code = v.column2, error_message = v.column3, "
        "lease_expires_at = NULL, updated_at = %s",
        [provider, now],
        rows,
        where,
        params,
    )


def hold(ids: Sequence[int], *, lease: dt.datetime) -> int:
    """Rows a dispatcher handed to the device queue: sending -> queued under provider HELD, which
    the dispatcher then leaves alone. The hand-over spends none of the delivery's attempts."""
    now = timezone.now()
    return _update_with_values(
        f"status = 'queued', provider = '{HELD}', lease_expires_at = NULL, updated_at = %s, "
        "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END",
        [now],
        [(pk,) for pk in ids],
        "status = 'sending' AND lease_expires_at = %s",
        [lease],
    )


def claim_held(rows: Sequence[tuple[int, str]], *, lease: dt.datetime) -> set[int]:
    """(id, device's provider id) of held rows a device claimed: queued -> sending under `lease`.
    Returns the ids that moved (a row canceled meanwhile does not). The caller holds the
    rows' device-queue locks, so no two devices claim one row."""
    now = timezone.now()
    if not rows:
        return set()
    placeholders = ", ".join(["(%s, %s)"] * len(rows))
    sql = (
        "UPDATE logs_delivery SET status = 'sending', provider_id = v.column2, lease_expires_at = %s, "  # noqa: S608
        f"attempts = attempts + 1, updated_at = %s FROM (VALUES {placeholders}) AS v "
        f"WHERE logs_delivery.id = v.column1 AND status = 'queued' AND provider = '{HELD}' "
        f"{_RETURNING}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_adapt(lease), _adapt(now), *(value for row in rows for value in row)])
        changed = cursor.fetchall()
    if changed:
        changes.announce([changes.DeliveryStatusChanged(*row) for row in changed])
    return {row[0] for row in changed}


def release_held(ids: Sequence[int]) -> int:
    """Held rows no device took in time: back to the dispatcher (still queued), which sends them
    through the organization's normal channel."""
    return Delivery.objects.filter(id__in=list(ids), status=QUEUED, provider=HELD).update(
        provider="", updated_at=timezone.now()
    )


# Where a leased row goes back to when it was not sent (a transient error, or a dispatcher
# that died): queued, unless its message was canceled meanwhile. Cancel only takes queued
# rows; one in flight at that moment must not be sent later.
_QUEUED_UNLESS_CANCELED = (
    "CASE WHEN EXISTS (SELECT 1 FROM logs_message m WHERE m.id = logs_delivery.message_id "
    "AND m.canceled_at IS NOT NULL) THEN 'canceled' ELSE 'queued' END"
)


def record_retry(rows: Sequence[tuple], *, lease: dt.datetime) -> int:
    """(id, error code, error message, not before[, counts]) of transient failures: sending ->
    queued. `counts` (default true) says whether the try spends one of the delivery's attempts;
    a provider that only asked us to wait (throttling) gives it back."""
    now = timezone.now()
    rows = [(*row, True)[:5] for row in rows]
    return _update_with_values(
        f"status = {_QUEUED_UNLESS_CANCELED}, error_code = v.column2, error_message = v.column3, "
        "not_before = v.column4, lease_expires_at = NULL, updated_at = %s, "
        "attempts = CASE WHEN v.column5 THEN attempts ELSE attempts - 1 END",
        [now],
        rows,
        "status = 'sending' AND lease_expires_at = %s",
        [lease],
    )


# What a state change returns and announces, in the order of DeliveryStatusChanged's fields.
_CHANGED = (
    "id", "message_id", "channel", "recipient", "status", "provider", "provider_id", "error_code", "error_message",
)  # fmt: skip
_RETURNING = " RETURNING " + ", ".join(_CHANGED)


def _returning() -> str:
    """The RETURNING clause of a state change: the changed rows when someone listens, else none
    (the busiest writes, a status callback's, then cost no more than before there was a hook)."""
    return _RETURNING if changes.listening() else ""


def _changed(cursor, returning: str, statement: changes.Statement = changes.NO_STATEMENT) -> int:
    """How many rows the statement changed, announcing them when it returned them (`statement`:
    what the listeners' CTEs in it already wrote)."""
    if not returning:
        return max(cursor.rowcount, 0)
    rows = cursor.fetchall()
    if rows:
        changes.announce([changes.DeliveryStatusChanged(*row) for row in rows], statement)
    return len(rows)


def _atomic_if(statement: changes.Statement, run):
    """run() in a transaction when a listener must write beside the statement and none is open
    (in autocommit, the statement would commit before the listener writes); else as it is (a
    savepoint inside an open transaction would cost two round trips for nothing)."""
    if statement.needs_transaction and not connection.in_atomic_block:
        with transaction.atomic():
            return run()
    return run()


def _update_with_values(set_sql: str, set_params: list, rows: Sequence[tuple], where_sql: str, where_params) -> int:
    if not rows:
        return 0
    width = len(rows[0])
    placeholders = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(rows))
    flat = [_adapt(value) for row in rows for value in row]
    returning = _returning()
    sql = (
        f"UPDATE logs_delivery SET {set_sql} FROM (VALUES {placeholders}) AS v "  # noqa: S608 (no user text)
        f"WHERE logs_delivery.id = v.column1 AND logs_delivery.{where_sql}{returning}"
    )

    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql, [*map(_adapt, set_params), *flat, *map(_adapt, where_params)])
            return _changed(cursor, returning)

    return _atomic_if(changes.without_statement(), run)


def _adapt(value):
    # Raw SQL gets datetimes as the backend stores them (SQLite: naive UTC text), so
    # the lease equality below matches what the ORM wrote.
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def apply_status(
    delivery_ids: Iterable[int],
    status: str,
    *,
    at: dt.datetime | None = None,
    error_code: str = "",
    error_message: str = "",
) -> int:
    """A word on deliveries without a provider's details (the console's simulated receipt):
    forward only and idempotent, like a callback."""
    at, ids = at or timezone.now(), list(delivery_ids)
    chunks = (ids[start : start + 1000] for start in range(0, len(ids), 1000))  # SQLite caps parameters
    return sum(
        apply_callbacks(status, [(pk, at, "", error_code, error_message) for pk in chunk], provider="")
        for chunk in chunks
    )


def apply_callbacks(status: str, rows: Sequence[tuple[int, dt.datetime, str, str, str]], *, provider: str) -> int:
    """(id, at, provider id, error code, error message) a provider reported as `status`:
    one conditional UPDATE for them all, forward only and idempotent.

    A callback can overtake our own `record_sent` (which then matches nothing): the
    provider and its id are recorded here too, but only where none is set yet. Give
    each id once (the earliest `at`); error code and message are written for `failed`.
    """
    if not rows:
        return 0
    if len(rows) == 1:
        return _apply_one_callback(status, rows[0], provider)
    sets = _callback_sets(
        status, now="%s", at="v.column2", provider_id="v.column3", code="v.column4", text="v.column5", provider="%s"
    )
    predecessors = CALLBACK_PREDECESSORS[status]
    where = "status IN (" + ", ".join(["%s"] * len(predecessors)) + ")"
    return _update_with_values(sets, [timezone.now(), provider], rows, where, list(predecessors))


def _callback_sets(status: str, *, now: str, at: str, provider_id: str, code: str, text: str, provider: str) -> str:
    """The SET list of apply_callbacks' UPDATEs; each keyword is the SQL of that value."""
    sets = [f"status = '{status}'", f"updated_at = {now}", "lease_expires_at = NULL"]
    if status in (SENT, DELIVERED):
        sets += [f"sent_at = COALESCE(sent_at, {at})", "error_code = ''", "error_message = ''"]
    if status == DELIVERED:
        sets.append(f"delivered_at = COALESCE(delivered_at, {at})")
    if status == FAILED:
        sets += [f"error_code = {code}", f"error_message = {text}"]
    sets += [
        f"provider = CASE WHEN provider = '' THEN {provider} ELSE provider END",
        f"provider_id = CASE WHEN provider_id = '' THEN {provider_id} ELSE provider_id END",
    ]
    return ", ".join(sets)


# apply_callbacks for one delivery (a status callback, the busiest write): the same rules, a plain UPDATE
# by primary key, one statement per status with the status and its predecessors (our
# constants) written in. Joining a one-row VALUES list cost ~0.3 ms more of the database.
def _one_callback_sql(status: str) -> str:
    sets = _callback_sets(
        status, now="%(now)s", at="%(at)s", provider_id="%(provider_id)s", code="%(code)s", text="%(text)s",
        provider="%(provider)s",
    )  # fmt: skip
    predecessors = ", ".join(f"'{p}'" for p in CALLBACK_PREDECESSORS[status])
    return f"UPDATE logs_delivery SET {sets} WHERE id = %(id)s AND status IN ({predecessors})"  # noqa: S608 (our constants)


_ONE_CALLBACK_SQL = {status: _one_callback_sql(status) for status in CALLBACK_PREDECESSORS}


def _apply_one_callback(status: str, row: tuple, provider: str) -> int:
    delivery_id, at, provider_id, code, text = row
    params = {
        "now": _adapt(timezone.now()), "at": _adapt(at), "code": code, "text": text,
        "provider": provider, "provider_id": provider_id, "id": delivery_id,
    }  # fmt: skip
    # Prepared: each of these statements is parsed and planned once per connection, not per callback.
    if not changes.listening():
        return run_prepared(_ONE_CALLBACK_SQL[status], params, lambda cursor: max(cursor.rowcount, 0))
    # In autocommit (a status callback's usual case) the listeners' writes go in the statement
    # itself, as CTEs after the UPDATE: still one round trip and one commit, and atomic.
    statement = changes.statement_for(status) if connection.vendor == "postgresql" else changes.without_statement()
    sql = _ONE_CALLBACK_SQL[status] + _RETURNING
    if statement.ctes:  # our constants and the listeners' CTEs: no request text
        ctes, columns = ", ".join(statement.ctes), ", ".join(_CHANGED)
        sql = f"WITH changed AS ({sql}), {ctes} SELECT {columns} FROM changed"  # noqa: S608

    def read(cursor):
        return _changed(cursor, _RETURNING, statement)

    return _atomic_if(statement, lambda: run_prepared(sql, params, read))


def cancel(message_id: int) -> int:
    """Every delivery not yet handed to a provider: queued -> canceled. Returns how many.

    Locks the message as the fan-out does: a message not fanned out yet is marked
    canceled and its fan-out then creates nothing (its planned deliveries count as canceled).
    """
    now = timezone.now()
    with transaction.atomic():
        # NO KEY: still exclusive against the fan-out, but it lets the foreign key checks of
        # concurrent writers through (a dispatcher's new running-total rows reference the
        # message): a plain FOR UPDATE here waited for them while they waited for it.
        message = Message.objects.select_for_update(no_key=True).get(pk=message_id)
        returning = _returning()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE logs_delivery SET status = %s, updated_at = %s WHERE message_id = %s AND status = %s"  # noqa: S608
                f"{returning}",
                [CANCELED, _adapt(now), message_id, QUEUED],
            )
            canceled = _changed(cursor, returning)
        if message.fanned_out_at is None and message.canceled_at is None:
            canceled += message.recipients
        if canceled:
            Message.objects.filter(pk=message_id, canceled_at=None).update(canceled_at=now)
    return canceled


def expired_leases(limit: int = 1000) -> list[dict]:
    """Deliveries whose dispatcher stopped (died) while sending them."""
    return list(
        Delivery.objects.filter(status=SENDING, lease_expires_at__lt=timezone.now())
        .exclude(provider=HELD)  # a device's: the devices app settles its own leases
        .order_by("lease_expires_at")
        .values(
            "id",
            "message_id",
            "message__organization_id",
            "channel",
            "recipient",
            "subscriber_id",
            "provider",
            "lease_expires_at",
            "attempts",
        )[:limit]
    )


def requeue_unsent(rows: Sequence[tuple[int, dt.datetime]]) -> int:
    """(id, lease) of expired-lease rows the provider never received: sending -> queued."""
    now = timezone.now()
    return _update_with_values(
        f"status = {_QUEUED_UNLESS_CANCELED}, lease_expires_at = NULL, updated_at = %s",
        [now],
        rows,
        "status = 'sending' AND logs_delivery.lease_expires_at = v.column2",
        [],
    )


def messages_needing_dispatch(stale_seconds: float, *, live_lease_after: dt.datetime | None = None) -> list[int]:
    """Fanned-out messages with ready queued rows and no live dispatcher: their task message
    was lost, or their dispatchers died. A live dispatcher renews its lease every few seconds,
    so its rows' leases end after `live_lease_after`; a dead one's leases only age. (Rows a
    dead dispatcher held are settled by the sweeper once their lease ends; the message's
    queued rows need not wait for that.)"""
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=stale_seconds)
    ready = (
        Delivery.objects.filter(message_id=OuterRef("pk"), status=QUEUED)
        .exclude(provider=HELD)
        .filter(Q(not_before=None) | Q(not_before__lte=cutoff))
    )
    live = Delivery.objects.filter(
        message_id=OuterRef("pk"), status=SENDING, lease_expires_at__gt=live_lease_after or now
    )
    # Its dispatchers have started (a row left the queue): no wake-up of theirs can still be on
    # its way, so a dead one is replaced at once, not SWEEP_STALE_SECONDS after the fan-out.
    started = Delivery.objects.filter(message_id=OuterRef("pk"), status__in=[SENDING, SENT, DELIVERED, FAILED])
    return list(
        Message.objects.filter(fanned_out_at__isnull=False, created_at__gte=now - dt.timedelta(days=7))
        .filter(Q(fanned_out_at__lte=cutoff) | Exists(started))
        .filter(Exists(ready))
        .exclude(Exists(live))
        .values_list("id", flat=True)[:1000]
    )


def renew_lease(ids: Sequence[int], lease: dt.datetime, seconds: float) -> tuple[dt.datetime, set[int]]:
    """A dispatcher's heartbeat: its rows still `sending` under `lease` get a new lease `seconds`
    from now. Returns the new lease and the ids it still holds; a row not among them was taken
    away (the lease ran out and the sweeper settled it) or moved on (a callback overtook our
    own record): either way it is not this dispatcher's to send any more."""
    if not ids:
        return lease, set()
    renewed = timezone.now() + dt.timedelta(seconds=seconds)
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE logs_delivery SET lease_expires_at = %s WHERE id IN ({placeholders}) "  # noqa: S608 (placeholders)
            "AND status = 'sending' AND lease_expires_at = %s RETURNING id",
            [_adapt(renewed), *ids, _adapt(lease)],
        )
        held = {row[0] for row in cursor.fetchall()}
    return renewed, held
