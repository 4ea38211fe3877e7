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
from django.db import connection, transaction
from django.utils import timezone

from blasts.compose import scheduled_blasts_create, scheduled_blasts_create_from
from groups.models import Group
from schedules import recurrence
from schedules.models import Schedule, rule_of

RULE = ("id", "start_date", "start_time", "timezone", "frequency", "every", "days", "remaining")
CONTENT = (
    "organization_id", "user_id", "types", "message", "subject", "media", "ivr", "shorten_links", "where",
    "everyone", "segment_id", "content_sid", "content_variables",
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
            .values(*RULE)[:size]
        )
        if not due:
            return 0
        advanced = [_advanced(row, now) for row in due]
        if connection.vendor == "postgresql":
            _fire_in_one_statement(advanced, now)
        else:
            _fire_row_by_row(advanced, now)
    return len(due)


def _advanced(row: dict, now: dt.datetime) -> tuple:
    """(id, next, remaining, active) after this run: one fewer remaining, `next` the first run
    after now (missed runs are not replayed)."""
    remaining = None if row["remaining"] is None else max(row["remaining"] - 1, 0)
    upcoming = None if remaining == 0 else recurrence.next_run(rule_of(row), now)
    return row["id"], upcoming, remaining, upcoming is not None


def _fire_in_one_statement(advanced: list[tuple], now: dt.datetime) -> None:
    """PostgreSQL: the batch advanced (arrays joined by id) and its runs made in one statement;
    the groups of the whole batch aggregated once (a hash join, not a subquery per run)."""
    ids, nexts, remainings, actives = (list(column) for column in zip(*advanced, strict=True))
    table, links = Schedule._meta.db_table, Schedule.groups.through._meta.db_table
    content = ", ".join(f"s.{connection.ops.quote_name(name)}" for name in CONTENT)  # "where" is an SQL keyword
    scheduled_blasts_create_from(
        f"UPDATE {table} s SET next = v.next, remaining = v.remaining, active = v.active, last_fired_at = %s "  # noqa: S608
        "FROM unnest(%s::bigint[], %s::timestamptz[], %s::integer[], %s::boolean[]) AS v(id, next, remaining, active) "
        f"LEFT JOIN (SELECT l.schedule_id, jsonb_agg(g.number ORDER BY g.number) AS numbers FROM {links} l "
        f"JOIN {Group._meta.db_table} g ON g.id = l.group_id WHERE l.schedule_id = ANY(%s::bigint[]) "
        "GROUP BY l.schedule_id) AS groups ON groups.schedule_id = v.id "
        f"WHERE s.id = v.id RETURNING {content}, s.id AS schedule_id, "
        "COALESCE(groups.numbers, '[]'::jsonb) AS group_numbers",
        [now, ids, nexts, remainings, actives, ids],
    )


def _fire_row_by_row(advanced: list[tuple], now: dt.datetime) -> None:
    """Elsewhere (SQLite): the runs read, made and the schedules advanced a row at a time."""
    ids = [pk for pk, *_ in advanced]
    rows = {row["id"]: row for row in Schedule.objects.filter(id__in=ids).values("id", *CONTENT)}
    groups = defaultdict(list)
    links = Schedule.groups.through.objects.filter(schedule_id__in=ids)
    for schedule_id, number in links.values_list("schedule_id", "group__number").order_by("group__number"):
        groups[schedule_id].append(number)
    runs = [
        {**{name: rows[pk][name] for name in CONTENT}, "schedule_id": pk, "group_numbers": groups[pk]} for pk in ids
    ]
    scheduled_blasts_create(runs)
    for pk, upcoming, remaining, active in advanced:
        Schedule.objects.filter(pk=pk).update(next=upcoming, remaining=remaining, active=active, last_fired_at=now)
