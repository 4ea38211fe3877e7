"""Database helpers shared by the apps."""

import functools
import logging
import random
import time

import psycopg
from django.db import OperationalError, connection
from psycopg import errors as pg_errors

logger = logging.getLogger(__name__)

# What PostgreSQL aborts a transaction for when it collides with another one, not because
# anything is wrong with it: run again, it succeeds.
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def retry_on_conflict(attempts: int = 3):
    """Run a transaction-owning function again when PostgreSQL aborts it as a deadlock's victim.

    For idempotent writes that arrive from outside and cannot be asked again (provider
    callbacks: Twilio does not retry a status callback that failed). Only at the outermost
    level: inside someone else's transaction the whole of it is lost, so the error goes up.
    """

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            for attempt in range(1, attempts + 1):
                try:
                    return function(*args, **kwargs)
                except OperationalError as exc:
                    if attempt == attempts or connection.in_atomic_block or not isinstance(exc.__cause__, _RETRYABLE):
                        raise
                    logger.warning(
                        "%s: %s; attempt %d of %d", function.__qualname__, exc.__cause__, attempt + 1, attempts
                    )
                    time.sleep(random.uniform(0.005, 0.05) * attempt)
            raise AssertionError("unreachable")

        return wrapper

    return decorate


def without_nul(value):
    """`value` (text, or JSON of lists and dicts) with NUL characters taken out of its strings:
    no PostgreSQL text column holds one. For what arrives from outside and must be kept."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    return value


def run_prepared(sql: str, params, read=None, *, prepare: bool | None = True):
    """Run one statement on the default connection and return `read(cursor)` (None without it).

    On PostgreSQL the statement is bound server-side on a cursor of Django's own connection (the
    same transaction), so it can run prepared: parsed and planned once per connection, not once
    per call (Django's client-side-binding cursors never prepare). `prepare=True` prepares it at
    once (a hot statement), None after psycopg's `prepare_threshold` runs (a statement whose text
    varies); nothing is prepared when the database OPTIONS turn it off (`prepare_threshold:
    None`, e.g. behind an old pgbouncer). Errors go through Django's wrapper, which marks the
    connection. Elsewhere, Django's cursor.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return read(cursor) if read else None
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=prepare if raw.prepare_threshold is not None else False)
        return read(cursor) if read else None
