"""GET/POST /schedules, GET/PATCH/DELETE /schedules/{id}: the reference's fields and rules."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from connext import roles
from schedules.models import Schedule
from tests.factories import GroupFactory, ScheduleFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

SCHEDULES = "/api/v1/schedules"
ROWS = (Schedule, Schedule.groups.through)
NEXT_YEAR = timezone.now().year + 1


@pytest.fixture
def groups(org):
    org.timezone = "America/New_York"
    org.save(update_fields=["timezone"])
    return [GroupFactory(organization=org, number=n) for n in (1, 2)]


def one_off(**fields) -> dict:
    return {
        "title": "Snow day",
        "types": ["sms", "email"],
        "groups": [1, 2],
        "message": "School is closed.",
        "subject": "Closed",
        "startDate": f"{NEXT_YEAR}-07-01",
        "startTime": "09:30",
        **fields,
    }


def test_a_one_off_runs_at_its_local_start_shown_in_utc(api, groups):
    response = api.post(SCHEDULES, one_off(media=[{"url": "https://cdn.example.com/a.jpg"}]))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "title": "Snow day",
        "subject": "Closed",
        "message": "School is closed.",
        "groups": [1, 2],
        "types": "sms,email",
        "active": 1,
        "next": f"{NEXT_YEAR}-07-01T13:30:00Z",  # 09:30 EDT, the organization's zone
        "media": [{"url": "https://cdn.example.com/a.jpg"}],
        "every": None,
        "frequency": None,
        "remaining": None,
        "days": None,
        "timezone": "America/New_York",
        "where": {},
        "segment": None,
        "contentSid": "",
        "contentVariables": {},
    }
    assert api.get(f"{SCHEDULES}/{body['id']}").json() == body
    assert api.get(f"{SCHEDULES}/{body['id']}/").json() == body


def test_a_schedule_may_run_in_its_own_time_zone(api, groups):
    body = api.post(SCHEDULES, one_off(timezone="Asia/Tokyo")).json()
    assert body["timezone"] == "Asia/Tokyo"
    assert body["next"] == f"{NEXT_YEAR}-07-01T00:30:00Z"


def test_a_recurring_schedule_next_lands_on_an_allowed_weekday(api, groups):
    # Weekdays only (Monday 2 ... Friday 32), every day at 07:00 New York time.
    body = api.post(SCHEDULES, one_off(frequency="days", every=1, days=62, remaining=10)).json()
    assert (body["frequency"], body["every"], body["days"], body["remaining"]) == ("days", 1, 62, 10)
    local = dt.datetime.fromisoformat(body["next"]).astimezone(ZoneInfo("America/New_York"))
    assert local.weekday() < 5 and local.strftime("%H:%M") == "09:30"


def test_a_recurring_schedule_that_started_in_the_past_runs_next_in_the_future(api, groups):
    start = timezone.now() - dt.timedelta(days=3)
    body = api.post(SCHEDULES, one_off(startDate=start.strftime("%Y-%m-%d"), frequency="hours", every=1)).json()
    assert timezone.now() - dt.timedelta(minutes=1) < dt.datetime.fromisoformat(body["next"])
    assert dt.datetime.fromisoformat(body["next"]) <= timezone.now() + dt.timedelta(hours=1)


def test_list_searches_title_and_message_and_pages(api, groups):
    first = api.post(SCHEDULES, one_off(title="Morning news")).json()
    second = api.post(SCHEDULES, one_off(title="Other", message="The news at noon")).json()
    api.post(SCHEDULES, one_off(title="Weather", message="Sunny"))
    listing = api.get(SCHEDULES, {"keyword": "NEWS"})
    assert [row["id"] for row in listing.json()] == [first["id"], second["id"]]
    assert listing["X-Total-Count"] == "2"
    page = api.get(SCHEDULES, {"limit": 1, "offset": 1})
    assert [row["id"] for row in page.json()] == [second["id"]] and page["X-Total-Count"] == "3"
    assert api.get(SCHEDULES, {"limit": 0}).status_code == 400


def test_another_organizations_schedule_is_not_found(api, other_org, groups):
    theirs = ScheduleFactory(organization=other_org)
    assert api.get(SCHEDULES).json() == []
    with nothing_written(*ROWS):
        for response in (
            api.get(f"{SCHEDULES}/{theirs.pk}"),
            api.get(f"{SCHEDULES}/{theirs.pk}/runs"),
            api.patch(f"{SCHEDULES}/{theirs.pk}", {"title": "Mine"}),
            api.delete(f"{SCHEDULES}/{theirs.pk}"),
        ):
            assert response.status_code == 404, response.content


def test_another_organizations_group_is_refused(api, other_org, groups):
    GroupFactory(organization=other_org, number=7)
    with nothing_written(*ROWS):
        response = api.post(SCHEDULES, one_off(groups=[1, 7]))
    assert response.status_code == 400 and "groups" in response.json()["message"]


PAST = (timezone.now() - dt.timedelta(days=2)).strftime("%Y-%m-%d")
# Every 7 days from 1 July next year, on every weekday but that one's: a rule that never runs.
NEVER = 127 & ~(1 << ((dt.date(NEXT_YEAR, 7, 1).weekday() + 1) % 7))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"groups": [9]}, "groups"),
        ({"groups": []}, "groups"),
        ({"types": ["fax"]}, "types"),
        ({"types": []}, "types"),
        ({"every": 2}, "every"),
        ({"frequency": "days"}, "every"),
        ({"frequency": "fortnights", "every": 1}, "frequency"),
        ({"frequency": "days", "every": 0}, "every"),
        ({"frequency": "days", "every": 1, "days": 0}, "days"),
        ({"frequency": "days", "every": 1, "days": 128}, "days"),
        ({"days": 127}, "days"),
        ({"frequency": "days", "every": 7, "days": NEVER}, "days"),
        ({"startDate": PAST}, "startDate"),
        ({"startDate": f"{NEXT_YEAR}-02-30"}, "startDate"),
        ({"startDate": "07/01/2030"}, "startDate"),
        ({"startTime": "24:00"}, "startTime"),
        ({"startTime": "9:30"}, "startTime"),
        ({"startTime": "09:30:00"}, "startTime"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"title": "  "}, "title"),
        ({"message": ""}, "message"),
        ({"subject": ""}, "subject"),
        ({"remaining": 0}, "remaining"),
        ({"ivr": True}, "ivr"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, groups, fields, field):
    with nothing_written(*ROWS):
        response = api.post(SCHEDULES, one_off(**fields))
    assert response.status_code == 400, response.content
    assert field in response.json()["message"]


@pytest.mark.parametrize("missing", ["startDate", "startTime", "title", "types", "groups"])
def test_required_fields(api, groups, missing):
    body = one_off()
    body.pop(missing)
    with nothing_written(*ROWS):
        response = api.post(SCHEDULES, body)
    assert response.status_code == 400 and missing in response.json()["message"]


def test_a_start_this_minute_is_not_in_the_past(api, groups):
    now = timezone.now().astimezone(ZoneInfo("America/New_York"))
    response = api.post(SCHEDULES, one_off(startDate=now.strftime("%Y-%m-%d"), startTime=now.strftime("%H:%M")))
    if timezone.now().astimezone(ZoneInfo("America/New_York")).minute == now.minute:  # not a minute boundary
        assert response.status_code == 201, response.content
        assert dt.datetime.fromisoformat(response.json()["next"]) <= timezone.now()


@pytest.fixture
def daily(api, groups):
    return api.post(SCHEDULES, one_off(frequency="days", every=1, remaining=5)).json()


def test_patch_takes_the_reference_fields(api, daily):
    response = api.patch(
        f"{SCHEDULES}/{daily['id']}",
        {"title": "New", "message": "Changed", "subject": "New subject", "every": 2, "frequency": "weeks", "days": 2},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["message"], body["subject"]) == ("New", "Changed", "New subject")
    assert (body["frequency"], body["every"], body["days"]) == ("weeks", 2, 2)
    local = dt.datetime.fromisoformat(body["next"]).astimezone(ZoneInfo("America/New_York"))
    assert local.weekday() == 0 and local.strftime("%H:%M") == "09:30"  # Mondays
    assert api.get(f"{SCHEDULES}/{daily['id']}").json() == body


def test_patch_moves_the_start_with_date_and_time_together(api, daily):
    url = f"{SCHEDULES}/{daily['id']}"
    body = api.patch(url, {"startDate": f"{NEXT_YEAR}-01-15", "startTime": "18:05"}).json()
    assert body["next"] == f"{NEXT_YEAR}-01-15T23:05:00Z"  # EST in January
    body = api.patch(url, {"timezone": "Europe/Paris"}).json()
    assert body["next"] == f"{NEXT_YEAR}-01-15T17:05:00Z"
    schedule = Schedule.objects.get(pk=daily["id"])
    with nothing_written(schedule):
        for half in ({"startDate": f"{NEXT_YEAR}-02-01"}, {"startTime": "10:00"}):
            response = api.patch(url, half)
            assert response.status_code == 400
            assert ({"startDate", "startTime"} - set(half)).pop() in response.json()["message"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"types": ["email"]}, "types"),
        ({"groups": [2]}, "groups"),
        ({"message": ""}, "message"),  # the schedule sends sms and email
        ({"subject": ""}, "subject"),
        ({"frequency": None}, "every"),  # a one-off with `every` left over
        ({"every": None}, "every"),
        ({"days": 0}, "days"),
        ({"remaining": -1}, "remaining"),
        ({"active": 2}, "active"),
        ({"startDate": PAST, "startTime": "09:00", "frequency": None, "every": None}, "startDate"),
    ],
)
def test_bad_patches_are_400s_and_change_nothing(api, daily, fields, field):
    schedule = Schedule.objects.get(pk=daily["id"])
    with nothing_written(schedule):
        response = api.patch(f"{SCHEDULES}/{daily['id']}", fields)
    assert response.status_code == 400, response.content
    assert field in response.json()["message"]


def test_pause_and_resume(api, daily):
    url = f"{SCHEDULES}/{daily['id']}"
    paused = api.patch(url, {"active": 0}).json()
    assert (paused["active"], paused["next"]) == (0, None)
    resumed = api.patch(url, {"active": True}).json()
    assert (resumed["active"], resumed["next"]) == (1, daily["next"])


def test_remaining_zero_ends_the_schedule(api, daily):
    url = f"{SCHEDULES}/{daily['id']}"
    ended = api.patch(url, {"remaining": 0}).json()
    assert (ended["active"], ended["next"], ended["remaining"]) == (0, None, 0)
    refused = api.patch(url, {"active": 1})
    assert refused.status_code == 400 and "active" in refused.json()["message"]
    again = api.patch(url, {"active": 1, "remaining": 3}).json()
    assert (again["active"], again["remaining"], again["next"]) == (1, 3, daily["next"])


def test_a_one_off_becomes_recurring_and_back(api, groups):
    url = f"{SCHEDULES}/{api.post(SCHEDULES, one_off()).json()['id']}"
    assert api.patch(url, {"frequency": "months", "every": 1}).json()["frequency"] == "months"
    body = api.patch(url, {"frequency": None, "every": None}).json()
    assert (body["frequency"], body["every"], body["next"]) == (None, None, f"{NEXT_YEAR}-07-01T13:30:00Z")


def test_delete(api, daily):
    assert api.delete(f"{SCHEDULES}/{daily['id']}").status_code == 204
    assert api.get(f"{SCHEDULES}/{daily['id']}").status_code == 404
    assert not Schedule.objects.filter(pk=daily["id"]).exists()


def test_a_viewer_reads_but_cannot_write(client_for, org, daily):
    viewer = client_for(UserFactory(organization=org, role=roles.VIEWER))
    assert viewer.get(SCHEDULES).status_code == 200
    with nothing_written(*ROWS):
        assert viewer.post(SCHEDULES, one_off()).status_code == 403
        assert viewer.patch(f"{SCHEDULES}/{daily['id']}", {"title": "x"}).status_code == 403
        assert viewer.delete(f"{SCHEDULES}/{daily['id']}").status_code == 403
