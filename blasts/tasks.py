"""Celery entry points of the sending pipeline: thin, the work is in the modules they call.

Named `<app>.<what it does>` like every task of the project: a name that outlives a move of
the function (queued messages and the beat schedule carry it). Every task is safe to run twice
or to die midway (acks_late): the rows in the database say what is done, and the sweeper
restarts what was lost.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from blasts import dispatch, fanout, sweeper
from logs import state

# The database away for a moment (a restart, a failover): the step runs again shortly, rather
# than wait for the sweeper.
ON_DATABASE_ERROR = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 15,
    "max_retries": 20,
}


@shared_task(name="blasts.fan_out", acks_late=True, **ON_DATABASE_ERROR)
def fan_out_message(message_id: int) -> int:
    return fanout.fanout(message_id)


@shared_task(name="blasts.fan_out_many", acks_late=True, **ON_DATABASE_ERROR)
def fan_out_messages(message_ids: list[int]) -> int:
    """Several messages' fan-outs in one task (a tick's schedule runs), each in its own
    transaction: a redelivered task skips those done."""
    return sum(fanout.fanout(message_id) for message_id in message_ids)


@shared_task(name="blasts.dispatch", acks_late=True, **ON_DATABASE_ERROR)
def dispatch_message(message_id: int) -> str:
    outcome = dispatch.dispatch(message_id)
    if outcome == "more":  # its time slice is up: let other messages' tasks in, then go on
        dispatch_message.delay(message_id)
    elif (at := dispatch.next_retry_at(message_id)) is not None:  # retries in backoff: wake up for the first
        dispatch_message.apply_async(args=[message_id], eta=max(at, timezone.now()))
    return outcome


@shared_task(name="blasts.sweep")
def sweep_deliveries() -> dict:
    return sweeper.sweep()


@shared_task(name="blasts.deliver_console_receipts", acks_late=True)
def deliver_console_receipts(delivery_ids: list[int]) -> int:
    """The console channel's simulated delivery receipts (`blasts.channels.console`)."""
    return state.apply_status(delivery_ids, state.DELIVERED)
