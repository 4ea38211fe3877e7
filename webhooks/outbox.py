"""The transactional outbox: announced changes (connext.changes) become webhook events, written
as `WebhookDelivery` rows in the transaction that made the change, one row per subscribed
endpoint, in one INSERT per batch. A change that rolls back leaves no row; one that commits
always has its rows. The dispatchers are woken only after the commit.

Cheap when nobody listens: an organization without an endpoint for the event costs a dict
lookup (see webhooks.subscriptions); a message's organization and externalId are remembered
per process (they never change). When one does, the change's transaction pays for its INSERT
and nothing else: the wake-up after the commit is handed to a thread (dispatch.wake_soon).
"""

import datetime as dt
import json
import secrets

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from connext import changes
from connext.db import run_prepared
from logs.models import Delivery, Message
from webhooks import subscriptions

MESSAGE_EVENTS = {"sent": "message.sent", "delivered": "message.delivered", "failed": "message.failed"}
OPT_OUT_REASONS = frozenset({"stop", "bounce", "complaint"})

_MESSAGES_REMEMBERED = 20_000
_messages: dict[int, tuple[int, str]] = {}  # message id -> (organization id, externalId)


def forget() -> None:
    """Drop the remembered message facts (tests: a rolled-back test's message ids are handed out
    again on SQLite; PostgreSQL never reuses one)."""
    _messages.clear()


def new_event_id() -> str:
    """The event's `webhook-id`: the same for every endpoint and every retry of the event."""
    return "msg_" + secrets.token_urlsafe(18)


def event_body(event_type: str, data: dict, at: dt.datetime | None = None) -> str:
    """The JSON body every attempt of an event sends, byte for byte."""
    timestamp = (at or timezone.now()).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"))


def record(batch: tuple) -> None:
    """The in-transaction listener: the batch's events for subscribed endpoints, written now."""
    statuses = _status_changes(batch)
    others = [c for c in batch if type(c) is not changes.DeliveryStatusChanged]
    if not statuses and not others:
        return  # a claim's `sending`, a cancel: no event, not even a look at the subscriptions
    subscribed = subscriptions.current()
    if not subscribed:
        return
    events: list[tuple[list[int], str, dict]] = []  # (endpoint ids, type, data)
    if statuses:
        events += _message_events(subscribed, statuses)
    for change in others:
        event = _other_event(change)
        if event is not None:
            organization_id, event_type, data = event
            endpoints = subscriptions.wanted(subscribed, organization_id, event_type)
            if endpoints:
                events.append((endpoints, event_type, data if isinstance(data, dict) else data()))
    if events:
        write(events)


def write(events: list[tuple[list[int], str, dict]]) -> None:
    """Outbox rows for (endpoint ids, event type, data) events, in one INSERT (no RETURNING,
    no model instances: this runs inside callbacks); dispatchers are woken after the commit."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    rows = []
    for endpoint_ids, event_type, data in events:
        event_id, body = new_event_id(), event_body(event_type, data)
        rows += [(endpoint_id, event_type, event_id, body, now) for endpoint_id in endpoint_ids]
    values = ", ".join(["(%s, %s, %s, %s, 'pending', 0, '', %s, %s, %s)"] * len(rows))
    run_prepared(  # a callback's one-row INSERT is the same statement every time: prepared after a few
        "INSERT INTO webhooks_delivery (endpoint_id, event_type, event_id, payload, status, attempts, last_error, "  # noqa: S608
        f"next_attempt_at, created_at, updated_at) VALUES {values}",
        [value for row in rows for value in (*row, row[-1], row[-1])],
        prepare=None,
    )
    _wake_after_commit({row[0] for row in rows})


def _wake_after_commit(endpoint_ids: set[int]) -> None:
    def wake():
        from webhooks import dispatch  # the dispatcher imports this module (event bodies)

        dispatch.wake_soon(sorted(endpoint_ids))

    transaction.on_commit(wake, robust=True)


# -- in the statement: a status callback's events -------------------------------------------------


def writes_for_status(status: str) -> bool:
    """Whether deliveries moved to `status` make an event some endpoint, anywhere, wants."""
    event_type = MESSAGE_EVENTS.get(status)
    return event_type is not None and subscriptions.any_wants(event_type)


def status_sql(status: str) -> str:
    """The CTEs that write the outbox rows of deliveries moved to `status` (one of
    MESSAGE_EVENTS'), inside the statement that moves them (see connext.changes.listen). The
    endpoints are joined in SQL, so the statement writes exactly the rows `record` would, bodies
    of the same shape (`_message_data`), under a new event id per delivery shared by all its
    endpoints."""
    return _STATUS_SQL[MESSAGE_EVENTS[status]]


def status_written(batch: tuple) -> None:
    """After status_sql's rows were written: the dispatchers of the endpoints that got them,
    woken after the commit (from the cached map: one it misses is woken by the sweep)."""
    events = _message_events(subscriptions.current(), _status_changes(batch))
    endpoint_ids = {endpoint_id for endpoints, _, _ in events for endpoint_id in endpoints}
    if endpoint_ids:
        _wake_after_commit(endpoint_ids)


def _status_event_sql(event_type: str) -> str:
    error = "CASE WHEN c.status = 'failed' THEN json_build_object('code', c.error_code, 'message', c.error_message) END"
    data = (
        "json_build_object('logId', c.message_id, 'deliveryId', c.id, 'externalId', NULLIF(m.external_id, ''), "
        "'recipient', c.recipient, 'channel', c.channel, 'status', c.status, 'provider', c.provider, "
        f"'providerId', c.provider_id, 'error', {error})"
    )
    timestamp = """to_char(%(now)s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    body = f"json_build_object('type', '{event_type}', 'timestamp', {timestamp}, 'data', {data})::text"
    # Our constants only (the event type is one of MESSAGE_EVENTS'), no request text.
    return (
        # Volatile, so computed once per changed row: one event id for all of its endpoints.
        "outbox_events AS (SELECT c.*, 'msg_' || replace(gen_random_uuid()::text, '-', '') AS event_id "  # noqa: S608
        "FROM changed c), "
        "outbox AS (INSERT INTO webhooks_delivery (endpoint_id, event_type, event_id, payload, status, attempts, "
        "last_error, next_attempt_at, created_at, updated_at) "
        f"SELECT e.id, '{event_type}', c.event_id, {body}, 'pending', 0, '', %(now)s, %(now)s, %(now)s "
        "FROM outbox_events c JOIN logs_message m ON m.id = c.message_id "
        "JOIN webhooks_endpoint e ON e.organization_id = m.organization_id "
        f"WHERE e.active AND e.deleted_at IS NULL AND e.events ? '{event_type}' ORDER BY c.id, e.id)"
    )


_STATUS_SQL = {event_type: _status_event_sql(event_type) for event_type in MESSAGE_EVENTS.values()}


def _status_changes(batch: tuple) -> list[changes.DeliveryStatusChanged]:
    """The batch's delivery status changes that make a message event."""
    return [c for c in batch if type(c) is changes.DeliveryStatusChanged and c.status in MESSAGE_EVENTS]


def _message_events(subscribed, statuses: list) -> list[tuple[list[int], str, dict]]:
    known = _message_facts({c.message_id for c in statuses})
    events = []
    for change in statuses:
        organization_id, external_id = known.get(change.message_id, (None, ""))
        event_type = MESSAGE_EVENTS[change.status]
        endpoints = subscriptions.wanted(subscribed, organization_id, event_type)
        if endpoints:
            events.append((endpoints, event_type, _message_data(change, external_id)))
    return events


def _message_data(change: changes.DeliveryStatusChanged, external_id: str) -> dict:
    error = {"code": change.error_code, "message": change.error_message} if change.status == "failed" else None
    return {
        "logId": change.message_id,
        "deliveryId": change.delivery_id,
        "externalId": external_id or None,
        "recipient": change.recipient,
        "channel": change.channel,
        "status": change.status,
        "provider": change.provider,
        "providerId": change.provider_id,
        "error": error,
    }


def _message_facts(message_ids: set[int]) -> dict[int, tuple[int, str]]:
    missing = [pk for pk in message_ids if pk not in _messages]
    if missing:
        if len(_messages) > _MESSAGES_REMEMBERED:
            _messages.clear()
        rows = Message.objects.filter(pk__in=missing).values_list("id", "organization_id", "external_id")
        for pk, organization_id, external_id in rows:
            _messages[pk] = (organization_id, external_id)
    return {pk: _messages[pk] for pk in message_ids if pk in _messages}


def _other_event(change):
    """(organization id, event type, data or a function returning it) of a change other than a
    delivery's status, or None when it makes no event. The data of an event nobody wants is
    never built (a function, when building it reads the database)."""
    kind = type(change)
    if kind is changes.ReplyReceived:
        return change.organization_id, "message.replied", lambda: _reply_data(change)
    if kind is changes.DeliveryClicked:
        delivery = _delivery_facts(change.delivery_id)
        if delivery is None:
            return None
        return delivery["organization_id"], "link.clicked", {**_delivery_data(delivery), "url": change.url,
                                                            "clickedAt": _iso(change.at)}  # fmt: skip
    if kind is changes.BlocklistChanged:
        if not change.blocked or change.reason not in OPT_OUT_REASONS:
            return None
        return change.organization_id, "subscriber.optout", {"recipient": change.recipient, "reason": change.reason}
    if kind is changes.ImportFinished:
        data = {"importId": change.import_id, "status": change.status, "total": change.total,
                "created": change.created, "updated": change.updated, "skipped": change.skipped}  # fmt: skip
        return change.organization_id, "import.finished", data
    if kind is changes.ScheduleFired:
        data = {"scheduleId": change.schedule_id, "logId": change.log_id, "firedAt": _iso(change.fired_at),
                "recipients": change.recipients}  # fmt: skip
        return change.organization_id, "schedule.fired", data
    return None


def _reply_data(change: changes.ReplyReceived) -> dict:
    delivery = _delivery_facts(change.delivery_id) if change.delivery_id else None
    data = _delivery_data(delivery) if delivery else {"logId": None, "deliveryId": None, "externalId": None,
                                                      "channel": "sms"}  # fmt: skip
    return {**data, "replyId": change.reply_id, "from": change.from_number, "body": change.body}


def _delivery_facts(delivery_id: int) -> dict | None:
    return (
        Delivery.objects.filter(pk=delivery_id)
        .values("id", "message_id", "channel", "recipient",
                organization_id=F("message__organization_id"), external_id=F("message__external_id"))
        .first()
    )  # fmt: skip


def _delivery_data(delivery: dict) -> dict:
    return {
        "logId": delivery["message_id"],
        "deliveryId": delivery["id"],
        "externalId": delivery["external_id"] or None,
        "recipient": delivery["recipient"],
        "channel": delivery["channel"],
    }


def _iso(at: dt.datetime | None) -> str | None:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if at else None
