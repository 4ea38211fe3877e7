"""The tick: every few seconds (beat), the schedules that are due fire, each exactly once.

One transaction per batch claims due schedules (`FOR UPDATE SKIP LOCKED` on PostgreSQL: two
ticks at once take different rows; on SQLite a transaction takes the write lock at its start),
makes each one's run a blast (`blasts.compose.scheduled_blasts_create`) and moves `next` and
`remaining` on. Either all of that commits or none of it: a second tick, a retried task or a
crash can neither fire a run twice nor lose one (a run whose fan-out wake-up was lost at a
crash is fanned out by the sweeper).

A schedule that missed runs while nothing ticked (downtime) fires once, then moves to its
first run after now: a backlog of identical blasts helps nobody.
"""

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from blasts.compose import scheduled_blasts_create
from schedules import recurrence
from schedules.models import Schedule, rule_of

CLAIMED = (
    "id", "organization_id", "user_id", "title", "types", "message", "subject", "media", "ivr", "shorten_links",
    "start_date", "start_time", "timezone", "frequency", "every", "days", "remaining",
)  # fmt: skip


def fire_due(now: dt.datetime | None = None) -> int:
    """Fire every schedule due at `now` (default: the current time); returns how many fired."""
    now = now or timezone.now()
    fired = 0
    while True:
        count = _fire_batch(now, settings.SCHEDULE_TICK_BATCH)
        fired += count
        if count < settings.SCHEDULE_TICK_BATCH:
            return fired


def _fire_batch(now: dt.datetime, size: int) -> int:
    with transaction.atomic():
        due = list(
            Schedule.objects.filter(active=True, next__lte=now)
            .order_by("next", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .values(*CLAIMED)[:size]
        )
        if not due:
            return 0
        groups = defaultdict(list)
        links = Schedule.groups.through.objects.filter(schedule_id__in=[row["id"] for row in due])
        for schedule_id, number in links.values_list("schedule_id", "group__number").order_by("group__number"):
            groups[schedule_id].append(number)
        scheduled_blasts_create([_run(row, groups[row["id"]]) for row in due])
        advanced = [_advanced(row, now) for row in due]
        Schedule.objects.bulk_update(advanced, ["next", "remaining", "active", "last_fired_at"])
    return len(due)


def _run(row: dict, group_numbers: list[int]) -> dict:
    return {
        "organization_id": row["organization_id"],
        "user_id": row["user_id"],
        "schedule_id": row["id"],
        "types": row["types"],
        "message": row["message"],
        "subject": row["subject"],
        "media": row["media"],
        "ivr": row["ivr"],
        "shorten_links": row["shorten_links"],
        "group_numbers": group_numbers,
    }


def _advanced(row: dict, now: dt.datetime) -> Schedule:
    """The schedule after this run: one fewer remaining, `next` the first run after now."""
    remaining = None if row["remaining"] is None else max(row["remaining"] - 1, 0)
    upcoming = None if remaining == 0 else recurrence.next_run(rule_of(row), now)
    return Schedule(id=row["id"], next=upcoming, remaining=remaining, active=upcoming is not None, last_fired_at=now)
