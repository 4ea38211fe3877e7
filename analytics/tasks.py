"""Celery entry points of the analytics: thin, the work is in analytics.rollups."""

import datetime as dt

from celery import shared_task
from django.utils import timezone

from analytics import rollups


@shared_task(name="analytics.compact")
def compact_rollups() -> int:
    """Fold the rollups' shards of hours that ended over an hour ago. Safe to run twice."""
    return rollups.compact(timezone.now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1))
