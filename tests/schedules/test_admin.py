"""Schedules in the admin: the organization's own, edited with the API's rules, runs listed."""

import datetime as dt

import pytest
from django.utils import timezone

from schedules import tick
from schedules.models import Schedule
from tests.factories import GroupFactory, ScheduleFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

NEXT_YEAR = timezone.now().year + 1


def form(**fields) -> dict:
    return {
        "title": "Morning",
        "types": ["sms"],
        "message": "Good morning",
        "subject": "",
        "media": "",
        "start_date": f"{NEXT_YEAR}-03-02",
        "start_time": "08:00",
        "timezone": "Europe/Paris",
        "frequency": "days",
        "every": "1",
        "days": "",
        "remaining": "",
        "active": "on",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
        **fields,
    }


def test_an_admin_sees_only_the_organizations_schedules(browser, org, other_org):
    ours = ScheduleFactory(organization=org, title="Acme morning")
    theirs = ScheduleFactory(organization=other_org, title="Globex morning")
    page = browser.get("/admin/schedules/schedule/").content.decode()
    assert "Acme morning" in page and "Globex morning" not in page
    assert browser.get(f"/admin/schedules/schedule/{ours.pk}/change/").status_code == 200
    assert browser.get(f"/admin/schedules/schedule/{theirs.pk}/change/").status_code == 302


def test_adding_one_places_next_like_the_api(browser, org):
    group = GroupFactory(organization=org, number=1)
    response = browser.post("/admin/schedules/schedule/add/", form(groups=[group.pk]))
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = Schedule.objects.get(title="Morning")
    assert schedule.organization == org and schedule.next == dt.datetime(NEXT_YEAR, 3, 2, 7, tzinfo=dt.UTC)
    assert list(schedule.groups.all()) == [group]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"every": ""}, "Required with frequency."),
        ({"frequency": "", "every": "", "start_date": "2020-01-01"}, "is in the past"),
        ({"message": ""}, "Required for sms."),
    ],
)
def test_the_api_rules_hold_in_the_admin(browser, org, fields, error):
    with nothing_written(Schedule):
        response = browser.post("/admin/schedules/schedule/add/", form(**fields))
    assert response.status_code == 200 and error in response.content.decode()


def test_a_schedules_page_lists_its_runs(browser, org):
    group = GroupFactory(organization=org, number=1)
    schedule = ScheduleFactory(organization=org, groups=[group])
    tick.fire_due(schedule.next)
    run = schedule.runs.get()
    page = browser.get(f"/admin/schedules/schedule/{schedule.pk}/change/").content.decode()
    assert f"message {run.pk}" in page
