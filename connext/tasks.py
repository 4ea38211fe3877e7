"""Celery entry points owned by `connext` itself.

Each task is named explicitly, `<app>.<what it does>`: the name travels in broker
messages and the beat schedule, so moving the function to another module must not
change it.
"""

from celery import shared_task
from django.db import connection

from connext import idempotency


@shared_task(name="connext.ping")
def ping() -> str:
    """Proves a worker is up end to end: it received the task, reached the database, answered."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "pong"


@shared_task(name="connext.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Drop Idempotency-Key records older than 24 h. Idempotent."""
    return idempotency.purge_expired()
