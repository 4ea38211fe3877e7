"""Task messages are wake-ups: the rows in the database say what is left to do.

The modules that do the work enqueue their next step by task name, so the task module (which
imports them) is never imported back; `BlastsConfig.ready` registers the tasks, so eager mode
(tests) and routing see them in every process. If the broker is down at commit, the send is still
accepted (robust: logged, not raised) and the sweeper sends the wake-up again once it answers.
"""

from celery import signature
from django.db import transaction

FAN_OUT = "blasts.fan_out"
FAN_OUT_MANY = "blasts.fan_out_many"
DISPATCH = "blasts.dispatch"
CONSOLE_RECEIPTS = "blasts.deliver_console_receipts"


def wake(task: str, *args, **options) -> None:
    """Enqueue `task` now (`options` as for apply_async: countdown, eta)."""
    signature(task, args=args).apply_async(**options)


def wake_each_after_commit(task: str, argument_lists: list[list]) -> None:
    """Enqueue `task` once per argument list after commit, over one broker connection (a tick
    wakes hundreds at once: a connection from the pool per message costs more than the send)."""

    def enqueue():
        from connext import celery_app

        with celery_app.producer_or_acquire() as producer:
            for args in argument_lists:
                signature(task, args=args).apply_async(producer=producer)

    transaction.on_commit(enqueue, robust=True)


def wake_after_commit(task: str, *args, times: int = 1) -> None:
    """Enqueue `task` `times` times once the current transaction commits (now, outside one)."""
    wake_each_after_commit(task, [list(args)] * times)
