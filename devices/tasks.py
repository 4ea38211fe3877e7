"""Celery entry points of the device queue."""

from celery import shared_task

from devices import queue


@shared_task(name="devices.release_claims")
def release_claims() -> dict:
    """The devices' sweep (beat): expired or orphaned claims back to the queue, fallbacks out."""
    return queue.release_claims()
