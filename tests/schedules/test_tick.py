"""The tick (schedules.tick.fire_due): each due run fired exactly once, as a blast in GET /logs."""

import datetime as dt
import json
import threading

import pytest
from django.db import connections, transaction

from blasts import compose
from logs.models import Delivery, Message
from schedules import tick
from schedules.models import Schedule
from tests.conftest import SQLITE
from tests.factories import EndpointFactory, GroupFactory, ScheduleFactory, SubscriberFactory
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db

SCHEDULES = "/api/v1/schedules"


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def group(org):
    group = GroupFactory(organization=org, number=1)
    SubscriberFactory(organization=org, phone="+12025550101", text=True, groups=[group])
    return group


def daily(org, group, **fields) -> Schedule:
    fields = {"start_date": dt.date(2027, 1, 4), "start_time": dt.time(9, 0), "next": at(2027, 1, 4, 9), **fields}
    return ScheduleFactory(organization=org, groups=[group], **fields)


def test_a_due_schedule_fires_once_and_moves_to_its_next_run(org, group, run_jobs):
    schedule = daily(org, group, remaining=3)
    assert run_jobs(tick.fire_due, at(2027, 1, 4, 9, 0, 3)) == 1
    assert tick.fire_due(at(2027, 1, 4, 9, 0, 8)) == 0  # the next tick: nothing due
    schedule.refresh_from_db()
    assert (schedule.next, schedule.remaining, schedule.active) == (at(2027, 1, 5, 9), 2, True)
    run = Message.objects.get(schedule=schedule)
    assert (run.organization, run.types, run.message, run.group_numbers) == (org, ["sms"], schedule.message, [1])
    assert list(Delivery.objects.filter(message=run).values_list("recipient", flat=True)) == ["+12025550101"]


def test_remaining_counts_down_to_an_inactive_schedule(org, group):
    schedule = daily(org, group, remaining=2)
    assert tick.fire_due(at(2027, 1, 4, 9)) == 1
    assert tick.fire_due(at(2027, 1, 5, 9)) == 1
    assert tick.fire_due(at(2027, 1, 6, 9)) == 0
    schedule.refresh_from_db()
    assert (schedule.remaining, schedule.active, schedule.next) == (0, False, None)
    assert Message.objects.filter(schedule=schedule).count() == 2


def test_a_one_off_fires_once_and_ends(org, group):
    schedule = daily(org, group, frequency="", every=None)
    assert tick.fire_due(at(2027, 1, 4, 9, 0, 1)) == 1
    schedule.refresh_from_db()
    assert (schedule.active, schedule.next, schedule.remaining) == (False, None, None)


def test_after_downtime_missed_runs_fire_once(org, group):
    schedule = daily(org, group, frequency="hours", every=1)
    assert tick.fire_due(at(2027, 1, 6, 17, 30)) == 1  # 56 runs missed: one blast, not 56
    schedule.refresh_from_db()
    assert schedule.next == at(2027, 1, 6, 18)
    assert Message.objects.filter(schedule=schedule).count() == 1


def test_not_due_paused_and_other_schedules_stay(org, group):
    later = daily(org, group, next=at(2027, 1, 4, 9, 1))
    paused = daily(org, group, active=False)
    assert tick.fire_due(at(2027, 1, 4, 9)) == 0
    assert not Message.objects.filter(schedule__in=[later, paused]).exists()


def test_a_run_sends_to_its_groups_as_they_are_at_the_run(api, org, group, run_jobs):
    schedule = daily(org, group)
    SubscriberFactory(organization=org, phone="+12025550102", text=True, groups=[group])  # joined after the schedule
    run_jobs(tick.fire_due, at(2027, 1, 4, 9))
    run = Message.objects.get(schedule=schedule)
    assert sorted(Delivery.objects.filter(message=run).values_list("recipient", flat=True)) == [
        "+12025550101", "+12025550102",
    ]  # fmt: skip


def test_runs_are_listed_newest_first_and_in_the_logs(api, org, group, run_jobs):
    schedule = daily(org, group)
    run_jobs(tick.fire_due, at(2027, 1, 4, 9))
    run_jobs(tick.fire_due, at(2027, 1, 5, 9))
    direct = api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Now"}).json()
    ids = list(Message.objects.filter(schedule=schedule).order_by("-id").values_list("id", flat=True))
    runs = api.get(f"{SCHEDULES}/{schedule.pk}/runs")
    assert runs.status_code == 200 and runs["X-Total-Count"] == "2"
    assert [run["logId"] for run in runs.json()] == ids
    assert set(runs.json()[0]) == {"logId", "firedAt", "recipients"}
    assert runs.json()[0]["recipients"] == 1 and runs.json()[0]["firedAt"].endswith("Z")
    logs = api.get("/api/v1/logs", {"schedule": schedule.pk})
    assert [row["id"] for row in logs.json()] == ids and {row["scheduleId"] for row in logs.json()} == {schedule.pk}
    everything = {row["id"]: row["scheduleId"] for row in api.get("/api/v1/logs").json()}
    assert everything[direct["id"]] is None
    for bad in ("x", "0", "-1", "1.5"):
        response = api.get("/api/v1/logs", {"schedule": bad})
        assert response.status_code == 400 and "schedule" in response.json()["message"]


def test_a_deleted_schedules_runs_keep_their_schedule_id(api, org, group):
    schedule = daily(org, group)
    tick.fire_due(at(2027, 1, 4, 9))
    assert api.delete(f"{SCHEDULES}/{schedule.pk}").status_code == 204
    assert [row["scheduleId"] for row in api.get("/api/v1/logs", {"schedule": schedule.pk}).json()] == [schedule.pk]


def test_another_organizations_runs_are_not_in_the_logs(api, other_org):
    theirs = GroupFactory(organization=other_org, number=1)
    schedule = daily(other_org, theirs)
    tick.fire_due(at(2027, 1, 4, 9))
    assert Message.objects.filter(schedule=schedule).exists()
    assert api.get("/api/v1/logs", {"schedule": schedule.pk}).json() == []


def test_a_failure_while_firing_fires_nothing_and_loses_nothing(org, group, monkeypatch):
    schedule = daily(org, group)

    def broken(ids):  # called after the runs' INSERT, before the commit
        assert Message.objects.filter(pk__in=ids).count() == 1
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(compose, "_wake_fan_outs", broken)
    with pytest.raises(RuntimeError):
        tick.fire_due(at(2027, 1, 4, 9))
    schedule.refresh_from_db()
    assert schedule.next == at(2027, 1, 4, 9) and not Message.objects.filter(schedule=schedule).exists()
    monkeypatch.undo()
    assert tick.fire_due(at(2027, 1, 4, 9)) == 1


def test_batches_fire_every_due_schedule(org, group, settings):
    settings.SCHEDULE_TICK_BATCH = 3
    schedules = [daily(org, group) for _ in range(7)]
    assert tick.fire_due(at(2027, 1, 4, 9)) == 7
    assert Message.objects.filter(schedule__in=schedules).count() == 7


@pytest.mark.skipif(SQLITE, reason="SKIP LOCKED and concurrent transactions: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_ticks_racing_fire_each_run_exactly_once(org, group, settings):
    settings.SCHEDULE_TICK_BATCH = 5
    schedules = [daily(org, group) for _ in range(40)]
    start, fired, errors = threading.Barrier(4), [], []

    def race():
        try:
            start.wait()
            fired.append(tick.fire_due(at(2027, 1, 4, 9)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and sum(fired) == 40
    runs = Message.objects.filter(schedule__in=schedules)
    assert runs.count() == 40 and runs.values("schedule").distinct().count() == 40


@pytest.mark.skipif(SQLITE, reason="SKIP LOCKED: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_tick_skips_what_another_tick_holds(org, group):
    held = daily(org, group)
    free = daily(org, group)
    holding, release, outcome = threading.Event(), threading.Event(), {}

    def hold():
        try:
            with transaction.atomic():
                Schedule.objects.select_for_update().get(pk=held.pk)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    try:
        outcome["fired"] = tick.fire_due(at(2027, 1, 4, 9))  # does not wait for the held row
    finally:
        release.set()
        holder.join(10)
    assert outcome["fired"] == 1
    assert Message.objects.filter(schedule=free).count() == 1 and not Message.objects.filter(schedule=held).exists()
    assert tick.fire_due(at(2027, 1, 4, 9, 0, 5)) == 1  # the next tick fires it


def test_a_run_is_announced_to_webhooks_once_its_audience_is_known(org, group, run_jobs):
    EndpointFactory(organization=org, events=["schedule.fired"])
    schedule = daily(org, group)
    run_jobs(tick.fire_due, at(2027, 1, 4, 9))
    run = Message.objects.get(schedule=schedule)
    [event] = [json.loads(row.payload) for row in WebhookDelivery.objects.filter(event_type="schedule.fired")]
    assert event["type"] == "schedule.fired"
    assert event["data"] == {
        "scheduleId": schedule.pk, "logId": run.pk, "firedAt": event["data"]["firedAt"], "recipients": 1,
    }  # fmt: skip
