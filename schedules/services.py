"""Writing schedules: every rule checked, `next` computed from the rule (schedules.recurrence)."""

import datetime as dt

from django.utils import timezone

from blasts.audience import audience_for
from connext.errors import ApplicationError
from connext.models import User
from schedules import recurrence
from schedules.models import Schedule
from subscribers.services import groups_for_numbers

RULE_FIELDS = ("start_date", "start_time", "timezone", "frequency", "every", "days")


def schedule_create(*, user: User, data: dict) -> Schedule:
    org = user.organization
    schedule = Schedule(organization=org, user=user, timezone=data.pop("timezone", None) or org.timezone)
    groups = groups_for_numbers(org, data.get("groups", []), field="groups")
    # Who it reaches is checked as a blast's is (an unknown attribute or segment is a 400); read at each run.
    audience_for(org, data.pop("groups", []), [], where=data.get("where"), segment=data.get("segment"))
    schedule.everyone = not groups  # who its runs reach is not a group's members
    _assign(schedule, data)
    schedule.active = True
    _check_rule(schedule)
    schedule.next = _first_run(schedule)
    schedule.save()
    schedule.groups.set(groups)
    return schedule


def schedule_update(schedule: Schedule, data: dict) -> Schedule:
    """PATCH: `data` applied, then `next` placed (see `place`). A new `where` or `segment` is
    checked as a blast's audience is, with the schedule's groups (a 400 names the field)."""
    if "where" in data or "segment" in data:
        where = data.get("where", schedule.where)
        segment = data.get("segment", schedule.segment_id)
        if where or segment is not None:  # known attributes, the organization's segment
            audience_for(schedule.organization, [], [], where=where, segment=segment)
        elif schedule.everyone:  # no groups either: it would reach no one in particular
            raise ApplicationError("Give groups, a segment or where (attribute filters).", field="where")
    before = {name: getattr(schedule, name) for name in (*RULE_FIELDS, "active", "remaining")}
    _assign(schedule, data)
    place(schedule, before, resume=data.get("active") is True)
    schedule.save()
    return schedule


def place(schedule: Schedule, before: dict, *, resume: bool = False) -> None:
    """After an edit (API or admin; `before` holds the rule fields, `active` and `remaining` as
    they were): the rule checked, then `next`. A new rule or a resume moves `next` to the rule's
    first run from now on; `remaining` 0 or `active` 0 leaves nothing next."""
    _check_rule(schedule)
    if schedule.remaining == 0:
        if resume:
            raise ApplicationError("No runs remaining: set remaining to run it again.", field="active")
        schedule.active = False
    if not schedule.active:
        schedule.next = None
    elif (
        any(getattr(schedule, name) != before[name] for name in RULE_FIELDS)
        or not before["active"]
        or schedule.next is None
    ):
        schedule.next = _first_run(schedule)


def _assign(schedule: Schedule, data: dict) -> None:
    for name, value in data.items():
        if name == "frequency":
            value = value or ""
        if name == "segment":
            name = "segment_id"
        setattr(schedule, name, value)


def _check_rule(schedule: Schedule) -> None:
    errors = {}
    if schedule.frequency and schedule.every is None:
        errors["every"] = "Required with frequency."
    if not schedule.frequency and schedule.every is not None:
        errors["every"] = "Only with frequency."
    if not schedule.frequency and schedule.days is not None:
        errors["days"] = "Only with frequency."
    if errors:
        field, message = next(iter(errors.items()))
        raise ApplicationError(message, field=field)


def _first_run(schedule: Schedule) -> dt.datetime:
    """The first run from the current minute on: a start at 09:00 given at 09:00:40 still runs."""
    minute = timezone.now().replace(second=0, microsecond=0)
    at = recurrence.next_run(schedule.rule, minute - dt.timedelta(microseconds=1))
    if at is not None:
        return at
    if not schedule.frequency:
        when = f"{schedule.start_date.isoformat()} {schedule.start_time:%H:%M} ({schedule.timezone})"
        raise ApplicationError(f"The start {when} is in the past.", field="startDate")
    raise ApplicationError(
        "The schedule would never run: with this start, frequency and every, no run falls on these weekdays.",
        field="days",
    )
