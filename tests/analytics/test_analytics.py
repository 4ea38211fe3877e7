"""GET /analytics/messages and /analytics/usage, and the rollups behind them equal to a recount
of the deliveries after every kind of write (fan-out, claims, results, callbacks, cancels)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import credits, services
from analytics import rollups
from blasts.fanout import fanout
from logs import state
from logs.models import Message
from tests.conftest import SQLITE, ApiClient
from tests.factories import GroupFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/analytics/messages"
USAGE = "/api/v1/analytics/usage"
SMS = {"types": ["sms"], "groups": [1], "dnc": [3], "message": "Hi {first|there}"}  # ada, bob, cy


def blast_at(api, at: dt.datetime, data=SMS) -> int:
    """A blast as if created at `at`, fanned out (its deliveries queued)."""
    log_id = api.post("/api/v1/blasts", data).json()["id"]
    Message.objects.filter(pk=log_id).update(created_at=at)
    fanout(log_id)
    return log_id


@pytest.mark.skipif(SQLITE, reason="the rollups are kept by PostgreSQL triggers")
def test_the_rollups_equal_a_full_recount_after_every_kind_of_write(api, org, audience, run_jobs):
    org.billed = True
    org.save()
    credits.topup(organization=org, amount=Decimal(10))
    run_jobs(api.post, "/api/v1/blasts", {**SMS, "types": ["sms", "email"], "subject": "News"})  # delivered
    canceled = blast_at(api, timezone.now() - dt.timedelta(days=1))
    api.post(f"/api/v1/logs/{canceled}/cancel")
    mixed = blast_at(api, timezone.now() - dt.timedelta(days=2, hours=3))
    ids, lease = state.claim(mixed, 10, 60)
    state.record_failed([(ids[0], "21211", "Invalid")], provider="twilio", lease=lease)
    state.record_sent([(ids[1], "SM1"), (ids[2], "SM2")], provider="twilio", lease=lease)
    state.apply_callbacks("failed", [(ids[1], None, "SM1", "30003", "Unreachable")], provider="twilio")
    state.apply_callbacks("delivered", [(ids[2], None, "SM2", "", "")], provider="twilio")
    child, _, key = services.subaccount_create(parent=org, admin_email="kid@acme.test", name="Kid")
    child.billed = False
    child.save()
    group = GroupFactory(organization=child, number=1)
    SubscriberFactory(organization=child, phone="+12025550170", text=True, groups=[group])
    run_jobs(ApiClient(key).post, "/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Yo"})

    orgs = [org.pk, child.pk]
    recount = rollups.recount_hourly(orgs)
    assert rollups.rollup_hourly(orgs) == recount
    assert {row[3] for row in recount} == {"delivered", "canceled", "failed"}
    rollups.compact(timezone.now() + dt.timedelta(days=1))  # every shard folded: the same figures
    assert rollups.rollup_hourly(orgs) == recount
    # The charged cost is what the ledger kept: debits less refunds.
    spent = -sum(e.amount for e in org.ledger.filter(kind__in=["debit", "refund"]))
    assert sum(row[7] for row in recount if row[0] == org.pk) == spent


def test_messages_per_day_channel_and_status(api, org, audience):
    now = timezone.now()
    blast_at(api, now)
    log_id = blast_at(api, now, {**SMS, "types": ["sms", "email"], "subject": "News"})
    api.post(f"/api/v1/logs/{log_id}/cancel")
    today = now.date().isoformat()
    days = api.get(MESSAGES, {"timezone": "UTC"})
    assert days.status_code == 200, days.content
    rows = days.json()
    assert len(rows) == 30 and rows[-1]["day"] == today and rows[0]["total"] == 0
    assert {k: rows[-1][k] for k in ("total", "queued", "canceled", "billed", "segments", "cost")} == {
        "total": 9, "queued": 3, "canceled": 6, "billed": 3, "segments": 3, "cost": "0.0237"}  # fmt: skip
    channels = api.get(MESSAGES, {"groupBy": "channel", "from": today, "to": today, "timezone": "UTC"}).json()
    assert [(r["channel"], r["total"], r["canceled"]) for r in channels] == [("email", 3, 3), ("sms", 6, 3)]
    statuses = api.get(MESSAGES, {"groupBy": "status", "from": today, "to": today, "timezone": "UTC"}).json()
    assert [(r["status"], r["total"], r["cost"]) for r in statuses] == [("canceled", 6, "0.0000"),
                                                                        ("queued", 3, "0.0237")]  # fmt: skip


def test_days_are_local_to_the_time_zone_asked_for(api, org, audience):
    blast_at(api, dt.datetime(2026, 3, 10, 2, 30, tzinfo=dt.UTC))  # 21:30 on the 9th in New York
    utc = api.get(MESSAGES, {"from": "2026-03-09", "to": "2026-03-10", "timezone": "UTC"}).json()
    new_york = api.get(MESSAGES, {"from": "2026-03-09", "to": "2026-03-10", "timezone": "America/New_York"}).json()
    assert [(r["day"], r["total"]) for r in utc] == [("2026-03-09", 0), ("2026-03-10", 3)]
    assert [(r["day"], r["total"]) for r in new_york] == [("2026-03-09", 3), ("2026-03-10", 0)]
    org.timezone = "America/New_York"
    org.save()
    assert api.get(MESSAGES, {"from": "2026-03-09", "to": "2026-03-09"}).json()[0]["total"] == 3


def test_bad_parameters_are_400_naming_them(api):
    for params, field in (({"groupBy": "week"}, "groupBy"), ({"timezone": "Mars/Base"}, "timezone"),
                          ({"from": "2026-13-01"}, "from"), ({"from": "2026-01-02", "to": "2026-01-01"}, "to"),
                          ({"from": "2020-01-01", "to": "2026-01-01"}, "to")):  # fmt: skip
        response = api.get(MESSAGES, params)
        assert response.status_code == 400 and response.json()["message"].startswith(f"{field}:"), params
    assert api.get(USAGE, {"groupBy": "day"}).status_code == 400


def test_usage_per_sub_account_and_the_total(api, org, audience, run_jobs):
    org.billed = True
    org.save()
    credits.topup(organization=org, amount=Decimal(10))
    run_jobs(api.post, "/api/v1/blasts", SMS)  # ours: 3 texts
    kid, _, key = services.subaccount_create(parent=org, admin_email="kid@acme.test", name="Kid")
    services.subaccount_transfer(parent=org, subaccount=kid, amount=Decimal(1))
    group = GroupFactory(organization=kid, number=1)
    for n in range(2):
        SubscriberFactory(organization=kid, phone=f"+1202555018{n}", text=True, groups=[group])
    run_jobs(ApiClient(key).post, "/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "x" * 200})
    quiet, _, _ = services.subaccount_create(parent=org, admin_email="quiet@acme.test", name="Quiet")
    response = api.get(USAGE, {"groupBy": "organization"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rows"] == [
        {"organizationId": org.pk, "name": "Acme", "subaccount": 0, "messages": 3, "segments": 3, "cost": "0.0237"},
        {"organizationId": kid.pk, "name": "Kid", "subaccount": 1, "messages": 2, "segments": 4, "cost": "0.0316"},
        {"organizationId": quiet.pk, "name": "Quiet", "subaccount": 1, "messages": 0, "segments": 0, "cost": "0.0000"},
    ]
    assert body["total"] == {"messages": 5, "segments": 7, "cost": "0.0553"} and body["currency"] == "USD"
    # A sub-account sees its own usage only; the parent's logs stay the parent's.
    mine = ApiClient(key).get(USAGE).json()
    assert [r["organizationId"] for r in mine["rows"]] == [kid.pk]
