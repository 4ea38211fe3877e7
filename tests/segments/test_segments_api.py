"""Saved segments: CRUD on /segments, and a segment driving a blast, a schedule's run and the estimate,
resolved when the blast fans out."""

import datetime as dt

import pytest

from blasts.fanout import fanout
from blasts.models import ConsoleSend
from logs.models import Delivery, Message
from schedules.tick import fire_due
from segments.models import Segment
from subscribers import attributes
from subscribers.models import Subscriber
from tests.factories import GroupFactory, SegmentFactory, SubscriberFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments"


@pytest.fixture
def people(org):
    """Group 1: Ada (DE, BLACK), Bob (FR, BLACK), Cy (DE, RED); group 2: Dee (DE, BLACK); all texting."""
    g1 = GroupFactory(organization=org, number=1)
    g2 = GroupFactory(organization=org, number=2)

    def person(first, phone, groups, **attributes):
        return SubscriberFactory(organization=org, first=first, phone=phone, text=True, groups=groups,
                                 attributes=attributes)  # fmt: skip

    made = {
        "ada": person("Ada", "+12025550101", [g1], COUNTRY="DE", COLOR="BLACK"),
        "bob": person("Bob", "+12025550102", [g1], COUNTRY="FR", COLOR="BLACK"),
        "cy": person("Cy", "+12025550103", [g1], COUNTRY="DE", COLOR="RED"),
        "dee": person("Dee", "+12025550104", [g2], COUNTRY="DE", COLOR="BLACK"),
    }
    attributes.remember(org.pk, ["COUNTRY", "COLOR"])
    return made


def test_crud(api, people):
    made = api.post(SEGMENTS, {"name": " Germans ", "groups": [1], "where": {"attr.COUNTRY": "DE"}})
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body == {"id": body["id"], "name": "Germans", "groups": [1], "where": {"attr.COUNTRY": "DE"},
                    "keyword": "", "createdAt": body["createdAt"], "updatedAt": body["updatedAt"]}  # fmt: skip
    assert api.get(f"{SEGMENTS}/{body['id']}").json() == body
    listed = api.get(SEGMENTS)
    assert [s["id"] for s in listed.json()] == [body["id"]] and listed["X-Total-Count"] == "1"
    patched = api.patch(f"{SEGMENTS}/{body['id']}", {"where": {"attr.COLOR": "BLACK"}, "keyword": "ad"})
    assert patched.status_code == 200 and patched.json()["where"] == {"attr.COLOR": "BLACK"}
    assert api.delete(f"{SEGMENTS}/{body['id']}").status_code == 204
    assert api.get(f"{SEGMENTS}/{body['id']}").status_code == 404


def test_another_organizations_segment_is_a_404(api, other_api, org, people):
    mine = {"id": SegmentFactory(organization=org, name="All").pk}
    assert other_api.get(f"{SEGMENTS}/{mine['id']}").status_code == 404
    assert other_api.patch(f"{SEGMENTS}/{mine['id']}", {"name": "x"}).status_code == 404
    assert other_api.delete(f"{SEGMENTS}/{mine['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "groups": [9]}, "groups"),
        ({"name": "x", "where": {"attr.SHOE": "42"}}, "where.attr.SHOE"),
        ({"name": "x", "where": {"COUNTRY": "DE"}}, "where.COUNTRY"),
        ({"name": "x", "where": {"attr.COUNTRY": ["DE"]}}, "where.attr.COUNTRY"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_segments_are_400_naming_the_field(api, people, body, field):
    with nothing_written(Segment):
        response = api.post(SEGMENTS, body)
    assert response.status_code == 400, response.json()
    assert response.json()["message"].startswith(f"{field}: ")


def test_a_segment_drives_a_blast_and_is_read_at_the_fan_out(api, people, run_jobs):
    segment = api.post(SEGMENTS, {"name": "Black in DE", "where": {"attr.COUNTRY": "DE", "attr.COLOR": "BLACK"}})
    segment_id = segment.json()["id"]
    estimate = api.post("/api/v1/blasts/estimate", {"types": ["sms"], "segment": segment_id, "hasMedia": 0,
                                                    "message": "Hi"})  # fmt: skip
    assert estimate.status_code == 200 and estimate.json()["recipients"] == {"sms": 2}  # Ada, Dee

    # Changed before the blast fans out: the blast reaches who matches then.
    api.patch(f"{SEGMENTS}/{segment_id}", {"groups": [1]})
    response = run_jobs(api.post, "/api/v1/blasts", {"types": ["sms"], "segment": segment_id,
                                                     "message": "Hi {first}, {attr.COLOR|no color}"})  # fmt: skip
    assert response.status_code == 200, response.json()
    sends = {s.to: s.body for s in ConsoleSend.objects.all()}
    assert sends == {"+12025550101": "Hi Ada, BLACK"}
    assert Message.objects.get(pk=response.json()["id"]).segment_id == segment_id


def test_a_blast_narrows_its_groups_with_where_and_the_estimate_counts_the_same(api, people, run_jobs):
    body = {"types": ["sms"], "groups": [1], "where": {"attr.COUNTRY": "DE"}, "message": "Hallo {first}"}
    estimate = api.post("/api/v1/blasts/estimate", {**body, "hasMedia": 0})
    assert estimate.json()["recipients"] == {"sms": 2}
    response = run_jobs(api.post, "/api/v1/blasts", body)
    assert response.json()["recipients"] == 2
    assert set(Delivery.objects.values_list("recipient", flat=True)) == {"+12025550101", "+12025550103"}
    # where alone: the whole organization, filtered.
    alone = run_jobs(api.post, "/api/v1/blasts", {"types": ["sms"], "where": {"attr.COLOR": "BLACK"}, "message": "x"})
    assert alone.json()["recipients"] == 3  # Ada, Bob, Dee


def test_a_blast_on_an_unknown_attribute_or_segment_is_a_400_and_sends_nothing(api, other_api, people, run_jobs):
    other_segment = other_api.post(SEGMENTS, {"name": "theirs"}).json()["id"]
    for body, field in (
        ({"groups": [1], "where": {"attr.SHOE": "42"}}, "where.attr.SHOE"),
        ({"segment": other_segment}, "segment"),
        ({}, "groups"),
    ):
        with nothing_written(Message, Delivery):
            response = run_jobs(api.post, "/api/v1/blasts", {"types": ["sms"], "message": "x", **body})
        assert response.status_code == 400, response.json()
        assert response.json()["message"].startswith(f"{field}: "), response.json()
    assert not ConsoleSend.objects.exists()


def test_a_deleted_segment_reaches_nobody(api, people):
    segment_id = api.post(SEGMENTS, {"name": "All"}).json()["id"]
    response = api.post("/api/v1/blasts", {"types": ["sms"], "segment": segment_id, "message": "x"})
    assert response.json()["recipients"] == 4
    Segment.objects.filter(pk=segment_id).delete()
    assert fanout(response.json()["id"]) == 0
    assert Subscriber.objects.count() == 4


def test_a_schedule_runs_to_its_segment(api, people, run_jobs):
    segment_id = api.post(SEGMENTS, {"name": "FR", "where": {"attr.COUNTRY": "FR"}}).json()["id"]
    template = "HX" + "1" * 32
    made = api.post("/api/v1/schedules", {"title": "t", "types": ["rcs"], "segment": segment_id, "message": "Salut",
                                          "contentSid": template, "contentVariables": {"1": "{first}"},
                                          "startDate": "2030-01-01", "startTime": "09:00"})  # fmt: skip
    assert made.status_code == 201, made.json()
    assert made.json()["segment"] == segment_id and made.json()["groups"] == []
    assert made.json()["contentSid"] == template and made.json()["types"] == "rcs"
    run_jobs(fire_due, dt.datetime(2030, 1, 2, tzinfo=dt.UTC))
    message = Message.objects.get(schedule_id=made.json()["id"])
    assert (message.segment_id, message.content_sid, message.content_variables) == (
        segment_id, template, {"1": "{first}"}
    )  # fmt: skip
    assert list(Delivery.objects.filter(message=message).values_list("channel", "recipient")) == [
        ("rcs", "+12025550102")
    ]  # fmt: skip
    assert ConsoleSend.objects.get().body == f'[template {template}] {{"1": "Bob"}}'


def test_templates_keep_whatsapp_and_rcs_types(api):
    made = api.post("/api/v1/templates", {"title": "Chat", "types": ["whatsapp", "rcs"], "message": "Hi {attr.X|you}"})
    assert made.status_code == 201, made.json()
    assert made.json()["types"] == ["whatsapp", "rcs"]


def test_a_schedule_whose_groups_were_deleted_reaches_nobody_even_with_where(api, people, run_jobs):
    made = api.post("/api/v1/schedules", {"title": "t", "types": ["sms"], "groups": [2], "message": "x",
                                          "where": {"attr.COUNTRY": "DE"},
                                          "startDate": "2030-01-01", "startTime": "09:00"})  # fmt: skip
    assert made.status_code == 201, made.json()
    api.delete(f"/api/v1/groups/{people['dee'].groups.get().pk}")
    run_jobs(fire_due, dt.datetime(2030, 1, 2, tzinfo=dt.UTC))
    message = Message.objects.get(schedule_id=made.json()["id"])
    assert (message.group_numbers, message.everyone) == ([], False)
    assert not Delivery.objects.filter(message=message).exists()  # not every German of the organization


def test_a_blast_where_and_its_segment_must_both_hold(api, people, run_jobs):
    germans = api.post(SEGMENTS, {"name": "DE", "where": {"attr.COUNTRY": "DE"}}).json()["id"]
    body = {"types": ["sms"], "segment": germans, "message": "x", "hasMedia": 0}
    assert api.post("/api/v1/blasts/estimate", {**body, "where": {"attr.COLOR": "RED"}}).json()["recipients"] == {
        "sms": 1
    }  # Cy  # fmt: skip
    # The same attribute twice, two values: nobody has both.
    assert api.post("/api/v1/blasts/estimate", {**body, "where": {"attr.COUNTRY": "FR"}}).json()["recipients"] == {
        "sms": 0
    }  # fmt: skip


def test_a_schedules_filters_and_template_can_change(api, people):
    made = api.post("/api/v1/schedules", {"title": "t", "types": ["whatsapp"], "where": {"attr.COUNTRY": "DE"},
                                          "contentSid": "HX" + "2" * 32, "startDate": "2030-01-01",
                                          "startTime": "09:00"}).json()  # fmt: skip
    url = f"/api/v1/schedules/{made['id']}"
    segment_id = api.post(SEGMENTS, {"name": "Black", "where": {"attr.COLOR": "BLACK"}}).json()["id"]
    patched = api.patch(url, {"segment": segment_id, "contentVariables": {"1": "{first}"}})
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["segment"], patched.json()["contentVariables"]) == (segment_id, {"1": "{first}"})
    for body, field in (
        ({"where": {"attr.SHOE": "1"}}, "where.attr.SHOE"),
        ({"segment": 999999}, "segment"),
        ({"contentSid": ""}, "contentSid"),  # whatsapp needs its template
        ({"where": {}, "segment": None}, "where"),  # no groups, no filter: nobody in particular
    ):
        response = api.patch(url, body)
        assert response.status_code == 400 and response.json()["message"].startswith(f"{field}: "), response.json()
    assert api.get(url).json()["segment"] == segment_id
