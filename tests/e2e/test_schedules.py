"""Schedules end to end: POST /schedules -> real `celery beat` processes ticking -> a real worker
-> the real twilio SDK -> the Twilio stub, on PostgreSQL. Two beats and two workers race: every
run still fires exactly once."""

import datetime as dt
from collections import Counter

import pytest
from django.utils import timezone

from logs.models import Delivery
from schedules.models import Schedule
from tests.conftest import SQLITE
from tests.e2e.test_blast_pipeline import provider_env, settled, wait_until
from tests.factories import GroupFactory, SubscriberFactory
from tests.stubs import run_in_thread
from tests.stubs.sendgrid_stub import SendGridStub
from tests.stubs.twilio_stub import TwilioStub

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="worker and beat processes need a database they can share: PostgreSQL"),
]

SCHEDULES = "/api/v1/schedules"
TICKING = {"SCHEDULE_TICK_SECONDS": "0.5"}


@pytest.fixture
def stubs():
    with run_in_thread(TwilioStub) as (twilio_url, twilio), run_in_thread(SendGridStub) as (sendgrid_url, _):
        yield provider_env(twilio_url, sendgrid_url, **TICKING), twilio


@pytest.fixture
def members(org):
    group = GroupFactory(organization=org, number=1)
    return [
        SubscriberFactory(organization=org, phone=f"+120255501{i:02d}", text=True, groups=[group]) for i in range(5)
    ]


def sms_to(twilio) -> Counter:
    return Counter(send["to"] for send in twilio.sends)


def runs(api, schedule_id: int) -> list[dict]:
    return api.get("/api/v1/logs", {"schedule": schedule_id}).json()


def test_a_due_one_off_fires_exactly_once_with_two_beats_and_two_workers(api, org, members, stubs, start_worker):
    env, twilio = stubs
    now = timezone.now()
    created = api.post(
        SCHEDULES,
        {"title": "Now", "types": ["sms"], "groups": [1], "message": "Doors open {first|}",
         "startDate": now.strftime("%Y-%m-%d"), "startTime": now.strftime("%H:%M"), "timezone": "UTC"},
    )  # fmt: skip
    assert created.status_code == 201, created.content
    schedule_id = created.json()["id"]
    for _ in range(2):
        start_worker(**env)
        start_worker(beat=True, **env)
    fired = wait_until(lambda: runs(api, schedule_id))
    wait_until(lambda: settled(fired[0]["id"]))
    # Beats keep ticking (twice a second each): still one run, one text per member.
    wait_until(
        lambda: Schedule.objects.filter(
            pk=schedule_id, last_fired_at__lt=timezone.now() - dt.timedelta(seconds=3)
        ).exists()
    )
    assert len(runs(api, schedule_id)) == 1
    assert sms_to(twilio) == Counter({member.phone: 1 for member in members})
    body = api.get(f"{SCHEDULES}/{schedule_id}").json()
    assert (body["active"], body["next"]) == (0, None)
    assert api.get(f"{SCHEDULES}/{schedule_id}/runs").json()[0]["recipients"] == 5


def test_a_recurring_schedule_runs_until_remaining_is_zero(api, org, members, stubs, start_worker):
    env, twilio = stubs
    created = api.post(
        SCHEDULES,
        {"title": "Daily", "types": ["sms"], "groups": [1], "message": "Daily news", "startDate": "2030-01-07",
         "startTime": "08:00", "frequency": "days", "every": 1, "remaining": 3},
    )  # fmt: skip
    schedule_id = created.json()["id"]
    start_worker(**env)
    start_worker(beat=True, **env)
    for count in (1, 2, 3):
        # Its time comes: `next` now (the rule's own days are tested without waiting for them).
        Schedule.objects.filter(pk=schedule_id).update(next=timezone.now())
        wait_until(lambda count=count: len(runs(api, schedule_id)) == count)
    body = api.get(f"{SCHEDULES}/{schedule_id}").json()
    assert (body["remaining"], body["active"], body["next"]) == (0, 0, None)
    logs = runs(api, schedule_id)
    assert [row["scheduleId"] for row in logs] == [schedule_id] * 3
    for row in logs:
        wait_until(lambda row=row: settled(row["id"]))
    assert sms_to(twilio) == Counter({member.phone: 3 for member in members})
    assert Delivery.objects.filter(message__schedule_id=schedule_id, status="sent").count() == 15
