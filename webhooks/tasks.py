"""Celery entry points of webhook delivery, sent to WEBHOOK_QUEUE (a queue of their own, so a
slow endpoint never holds up sending). Thin: the work is in webhooks.dispatch. Safe to run twice
or to die midway: the outbox rows say what is done, and the sweeper restarts what was lost."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from webhooks import dispatch


@shared_task(
    name=dispatch.DRAIN_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1, retry_backoff_max=15, max_retries=20,
)  # fmt: skip
def drain_endpoint(endpoint_id: int) -> str:
    return dispatch.drain(endpoint_id)


@shared_task(name="webhooks.sweep")
def sweep_webhooks() -> dict:
    return dispatch.sweep()


@shared_task(name="webhooks.purge")
def purge_deliveries() -> int:
    return dispatch.purge()
