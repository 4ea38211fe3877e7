"""Fan-out: a message's audience (groups, filters, segment) expanded into deliveries, once, with set-based SQL.

One `INSERT ... SELECT ... ON CONFLICT DO NOTHING` per channel (no Python per recipient) inside
the transaction that marks the message fanned out, so a redelivered task makes nothing twice;
then `DISPATCH_TASKS` dispatchers are woken after commit.
"""

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts import metering
from blasts import wakeups
from blasts.audience import Audience, audience_of_message, channel_where, plan_for
from blasts.compose import unit_prices
from connext import changes
from logs import state
from logs.models import Message

INSERT_COLUMNS = (
    "message_id, subscriber_id, channel, recipient, status, attempts, provider, provider_id, "
    "error_code, error_message, digits, clicks"
)


UNPAID = ("insufficient-credits", "Not enough credits to pay for this blast when it was sent.")


class _Unpaid(Exception):
    pass


def _insert(message: Message, audience: Audience, plan, status: str, error=("", "")) -> dict[str, int]:
    """The deliveries of each channel, in one INSERT ... SELECT each; returns how many per channel."""
    made: dict[str, int] = {}
    if audience.empty:  # e.g. every group (or the segment) deleted since: nobody to send to
        return made
    with connection.cursor() as cursor:
        for channel in plan.channels:
            column, where, params = channel_where(audience, channel, plan)
            cursor.execute(
                f"INSERT INTO logs_delivery ({INSERT_COLUMNS}) "  # noqa: S608 (our SQL, params bound)
                f"SELECT %s, s.id, %s, s.{column}, %s, 0, '', '', %s, %s, '', 0 "
                # In address order: the unique index fills in key order (~15 % faster).
                f"FROM subscribers_subscriber s WHERE {where} ORDER BY s.{column} "
                "ON CONFLICT (message_id, channel, recipient) DO NOTHING",
                [message.pk, channel, status, *error, *params],
            )
            made[channel] = max(cursor.rowcount, 0)
    return made


def fanout(message_id: int) -> int:
    """Expand a message's groups into deliveries, once. Returns how many rows it made."""
    with transaction.atomic():
        # NO KEY, as cancel takes it: the two exclude each other, foreign key checks pass.
        message = Message.objects.select_for_update(no_key=True).filter(pk=message_id).first()
        if message is None or message.fanned_out_at is not None:
            return 0  # deleted, or a redelivered task: done already
        # Its groups, filters and segment as they are now (blasts.audience).
        audience = audience_of_message(message)
        plan = plan_for(message.types, has_media=bool(message.media), voice_fallback=message.voice_fallback)
        # Canceled before its fan-out: the rows are made canceled, so its log still shows who.
        status = state.CANCELED if message.canceled_at else state.QUEUED
        # The price of each delivery, fixed now; the whole cost is reserved with the rows (one
        # debit). A balance that cannot pay it (spent since POST /blasts) fails them all.
        prices = unit_prices(message.message, plan.channels)
        payer = metering.price(message, prices)
        try:
            with transaction.atomic():
                made = _insert(message, audience, plan, status)
                if status == state.QUEUED and not metering.reserve(message, payer, prices, made):
                    raise _Unpaid
        except _Unpaid:
            status = state.FAILED
            made = _insert(message, audience, plan, status, UNPAID)
        created = sum(made.values())
        message.recipients = created
        message.fanned_out_at = timezone.now()
        message.save(update_fields=["recipients", "fanned_out_at"])
        if message.schedule_id is not None:  # a schedule's run: fired now that its audience is known
            changes.announce(
                [changes.ScheduleFired(message.organization_id, message.schedule_id, message.pk,
                                       message.created_at, created)]
            )  # fmt: skip
        if created and status == state.QUEUED:
            tasks = max(1, min(settings.DISPATCH_TASKS, -(-created // settings.DISPATCH_BATCH_SIZE)))
            wakeups.wake_after_commit(wakeups.DISPATCH, message.pk, times=tasks)
    return created
