"""GET /logs, GET /logs/{id}, GET /logs/{id}/stats, POST /logs/{id}/cancel."""

import datetime as dt

import pytest
from django.utils import timezone

from connext import roles
from logs import state
from logs.models import Delivery, Message
from tests.factories import DeliveryFactory, MessageFactory, ReplyFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

LOGS = "/api/v1/logs"
LOG_ROWS = (Message, Delivery)


@pytest.fixture
def sent_message(org, admin_user):
    """A message whose deliveries are in every status, built row by row."""
    message = MessageFactory(organization=org, user=admin_user, types=["sms", "email"], message="Snow day",
                             subject="Closed", recipients=7)  # fmt: skip
    now = timezone.now()
    rows = [
        ("sms", "+12025550101", "delivered", "", "", 2),
        ("sms", "+12025550102", "sent", "", "", 0),
        ("sms", "+12025550103", "failed", "30003", "Unreachable destination handset", 0),
        ("sms", "+12025550104", "failed", "30003", "Unreachable destination handset", 0),
        ("sms", "+12025550105", "failed", "21610", "Attempt to send to unsubscribed recipient", 0),
        ("email", "ada@example.com", "delivered", "", "", 1),
        ("email", "bob@example.com", "queued", "", "", 0),
    ]
    for channel, recipient, status, code, text, clicks in rows:
        DeliveryFactory(
            message=message, channel=channel, recipient=recipient, status=status, error_code=code,
            error_message=text, clicks=clicks, provider_id=f"P-{recipient}" if status != "queued" else "",
            sent_at=now if status in ("sent", "delivered") else None,
            delivered_at=now if status == "delivered" else None,
        )  # fmt: skip
    return message


def test_list_has_one_row_per_message_with_counts(api, sent_message):
    older = MessageFactory(organization=sent_message.organization, types=["voice"], message="Older")
    Message.objects.filter(pk=older.pk).update(created_at=sent_message.created_at - dt.timedelta(hours=1))
    response = api.get(LOGS)
    assert response.status_code == 200 and response["X-Total-Count"] == "2"
    newest = response.json()[0]
    assert newest == {
        "id": sent_message.pk,
        "user": "admin@acme.test",
        "message": "Snow day",
        "subject": "Closed",
        "types": "sms,email",
        "createdAt": newest["createdAt"],
        "recipients": 7,
        "queued": 1,
        "sending": 0,
        "sent": 1,
        "delivered": 2,
        "failed": 3,
        "canceled": 0,
        "clicks": 3,
        "scheduleId": None,
    }
    assert newest["createdAt"].endswith("Z")
    assert response.json()[1]["message"] == "Older" and response.json()[1]["user"] is None


def test_list_keyword_matches_message_or_username(api, sent_message):
    assert [m["id"] for m in api.get(LOGS, {"keyword": "snow"}).json()] == [sent_message.pk]
    assert [m["id"] for m in api.get(LOGS, {"keyword": "admin@acme"}).json()] == [sent_message.pk]
    assert api.get(LOGS, {"keyword": "rain"}).json() == []


def test_detail_rows(api, sent_message):
    response = api.get(f"{LOGS}/{sent_message.pk}")
    assert response.status_code == 200 and response["X-Total-Count"] == "7"
    first = response.json()[0]
    assert set(first) == {"id", "recipient", "channel", "status", "errorCode", "errorMessage", "providerId",
                          "sentAt", "deliveredAt", "fallback", "reply"}  # fmt: skip
    assert first["recipient"] == "+12025550101" and first["status"] == "delivered" and first["reply"] is None
    assert first["providerId"] == "P-+12025550101" and first["sentAt"].endswith("Z")


def test_detail_filters_and_clicks(api, sent_message):
    failed = api.get(f"{LOGS}/{sent_message.pk}", {"status": "failed", "limit": 2})
    assert failed["X-Total-Count"] == "3" and [r["status"] for r in failed.json()] == ["failed", "failed"]
    assert failed.json()[0]["errorCode"] == "30003"
    clicked = api.get(f"{LOGS}/{sent_message.pk}", {"status": "clicked", "getClicks": "true"}).json()
    assert {(r["recipient"], r["clicks"]) for r in clicked} == {("+12025550101", 2), ("ada@example.com", 1)}
    assert "clicks" not in api.get(f"{LOGS}/{sent_message.pk}").json()[0]
    assert [r["recipient"] for r in api.get(f"{LOGS}/{sent_message.pk}", {"keyword": "bob@"}).json()] == [
        "bob@example.com"
    ]


@pytest.mark.parametrize(("params", "field"), [({"status": "bounced"}, "status"), ({"getClicks": "maybe"},
                         "getClicks"), ({"limit": "0"}, "limit")])  # fmt: skip
def test_detail_bad_filters_are_400(api, sent_message, params, field):
    response = api.get(f"{LOGS}/{sent_message.pk}", params)
    assert response.status_code == 400 and response.json()["message"].startswith(field)


def test_detail_shows_the_latest_reply(api, sent_message):
    ReplyFactory(delivery=Delivery.objects.get(recipient="+12025550102"), body="Is school open?")
    rows = {r["recipient"]: r for r in api.get(f"{LOGS}/{sent_message.pk}").json()}
    assert rows["+12025550102"]["reply"] == "Is school open?"


def test_stats(api, sent_message):
    response = api.get(f"{LOGS}/{sent_message.pk}/stats")
    assert response.status_code == 200
    assert response.json() == {
        "statuses": {"queued": 1, "sending": 0, "sent": 1, "delivered": 2, "failed": 3, "canceled": 0, "clicked": 2},
        "errors": [
            {"code": "30003", "message": "Unreachable destination handset", "count": 2},
            {"code": "21610", "message": "Attempt to send to unsubscribed recipient", "count": 1},
        ],
        "clicks": 3,
        "fallbacks": {},
    }


def test_cancel_takes_no_fields(api, sent_message):
    with nothing_written(*LOG_ROWS):
        response = api.post(f"{LOGS}/{sent_message.pk}/cancel", {"foo": 1})
    assert response.status_code == 400 and response.json()["message"] == "foo: Unknown field."
    assert api.post(f"{LOGS}/{sent_message.pk}/cancel", {}).status_code == 200


def test_cancel_takes_what_is_still_queued_then_400(api, sent_message):
    response = api.post(f"{LOGS}/{sent_message.pk}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["canceled"] == 1 and response.json()["message"]
    assert Delivery.objects.get(recipient="bob@example.com").status == "canceled"
    assert api.get(LOGS).json()[0]["canceled"] == 1
    with nothing_written(*LOG_ROWS):
        again = api.post(f"{LOGS}/{sent_message.pk}/cancel")
    assert again.status_code == 400 and again.json()["message"]


def test_cancel_before_the_fanout_leaves_every_row_canceled(api, org, audience, run_jobs):
    from blasts.fanout import fanout

    response = api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi"})
    message_id = response.json()["id"]  # its fan-out has not run (the request's transaction is the test's)
    canceled = api.post(f"{LOGS}/{message_id}/cancel")
    assert canceled.status_code == 200 and canceled.json()["canceled"] == 4
    fanout(message_id)
    assert set(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True)) == {"canceled"}
    assert state.claim(message_id, 100, 60) == ([], None)


def test_other_organizations_logs_are_404(other_api, sent_message):
    assert other_api.get(LOGS).json() == []
    for path in (f"{LOGS}/{sent_message.pk}", f"{LOGS}/{sent_message.pk}/stats"):
        assert other_api.get(path).status_code == 404
    with nothing_written(*LOG_ROWS):
        assert other_api.post(f"{LOGS}/{sent_message.pk}/cancel").status_code == 404


def test_viewer_reads_logs_but_cannot_cancel(org, sent_message, client_for):
    viewer = client_for(UserFactory(organization=org, email="v@acme.test", role=roles.VIEWER))
    assert viewer.get(LOGS).status_code == 200
    assert viewer.get(f"{LOGS}/{sent_message.pk}/stats").status_code == 200
    with nothing_written(*LOG_ROWS):
        assert viewer.post(f"{LOGS}/{sent_message.pk}/cancel").status_code == 403


def test_a_blast_through_the_pipeline_shows_in_the_logs(api, audience, run_jobs):
    message_id = run_jobs(api.post, "/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi"}).json()["id"]
    row = api.get(LOGS).json()[0]
    assert row["id"] == message_id and row["recipients"] == 4 and row["delivered"] == 4
    assert api.get(f"{LOGS}/{message_id}/stats").json()["statuses"]["delivered"] == 4
