"""Celery entry point of schedules: the tick beat runs every SCHEDULE_TICK_SECONDS."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from schedules import tick


@shared_task(name="schedules.tick", ignore_result=True, autoretry_for=(OperationalError, InterfaceError), max_retries=0)
def fire_due_schedules() -> int:
    return tick.fire_due()
