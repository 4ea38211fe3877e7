"""Celery entry points owned by `connext` itself."""

from celery import shared_task
from django.db import connection

from connext import idempotency


@shared_task
def ping() -> str:
    """Proves a worker is up end to end: it received the task, reached the database, answered."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "pong"


@shared_task
def purge_idempotency_records() -> int:
    """Drop Idempotency-Key records older than 24 h. Idempotent."""
    return idempotency.purge_expired()
