"""Celery entry points of the sending pipeline: thin, the work is in blasts.services.

Every task is safe to run twice or to die midway (acks_late): the rows in
PostgreSQL say what is done, and the sweeper restarts what was lost.
"""

from celery import shared_task
from django.utils import timezone

from blasts import services
from logs import state


@shared_task(acks_late=True)
def fanout_task(message_id: int) -> int:
    return services.fanout(message_id)


@shared_task(acks_late=True)
def dispatch_task(message_id: int) -> str:
    outcome = services.dispatch(message_id)
    if outcome == "more":  # its time slice is up: let other messages' tasks in, then go on
        dispatch_task.delay(message_id)
    elif (at := services.next_retry_at(message_id)) is not None:  # retries in backoff: wake up for the first
        dispatch_task.apply_async(args=[message_id], eta=max(at, timezone.now()))
    return outcome


@shared_task
def sweep_task() -> dict:
    return services.sweep()


@shared_task(acks_late=True)
def console_delivered(delivery_ids: list[int]) -> int:
    """The console channel's simulated delivery receipt."""
    return state.apply_status(delivery_ids, state.DELIVERED)
