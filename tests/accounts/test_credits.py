"""Credits over HTTP: the balance, the ledger, the 402 refusal, the debit at fan-out and the refunds."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts import credits
from accounts.models import LedgerEntry
from blasts.fanout import fanout
from connext import roles
from logs import state
from logs.models import Delivery, Message
from tests.accounts.conftest import assert_ledger_sums
from tests.factories import UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

BLASTS = "/api/v1/blasts"
SMS = {"types": ["sms"], "groups": [1], "dnc": [3], "message": "Hi {first|there}"}  # ada, bob, cy: 3 x 0.0079


def test_a_quick_start_organization_is_not_billed_and_sends_freely(api, org, audience, run_jobs):
    body = api.get("/api/v1/credits").json()
    assert body == {"balance": "0.0000", "currency": "USD", "mode": "own", "billed": 0, "available": None,
                    "monthlyCap": None, "spentThisMonth": "0.0000"}  # fmt: skip
    response = run_jobs(api.post, BLASTS, SMS)
    assert response.status_code == 200, response.content
    assert Delivery.objects.filter(status="delivered").count() == 3
    assert not LedgerEntry.objects.exists()


def test_a_billed_blast_is_debited_at_its_fan_out_in_one_entry(api, billed, audience, run_jobs):
    response = run_jobs(api.post, BLASTS, SMS)
    assert response.status_code == 200, response.content
    log_id = response.json()["id"]
    assert api.get("/api/v1/credits").json()["balance"] == "0.9763"
    ledger = api.get("/api/v1/credits/ledger").json()
    assert [(e["kind"], e["amount"], e["balance"], e["logId"]) for e in ledger] == [
        ("debit", "-0.0237", "0.9763", log_id),
        ("topup", "1.0000", "1.0000", None),
    ]
    assert ledger[0]["note"] and ledger[0]["createdAt"].endswith("Z")
    assert_ledger_sums(billed)


def test_a_blast_the_balance_cannot_pay_is_402_and_writes_nothing(api, billed, audience):
    credits.post(organization_id=billed.pk, kind="adjustment", amount=Decimal("-0.99"))  # 0.0100 left
    with nothing_written(Message, Delivery, LedgerEntry):
        response = api.post(BLASTS, SMS)
    assert response.status_code == 402, response.content
    body = response.json()
    assert body["required"] == "0.0237" and body["balance"] == "0.0100"
    assert "Not enough credits" in body["message"] and "0.0237 USD" in body["message"]


def test_the_estimate_and_the_debit_agree_on_segments(api, billed, audience, run_jobs):
    long_text = "x" * 161  # two GSM-7 segments
    estimate = api.post("/api/v1/blasts/estimate", {**SMS, "message": long_text, "hasMedia": 0}).json()
    assert estimate["segments"] == 2 and estimate["total"] == pytest.approx(0.0474)
    run_jobs(api.post, BLASTS, {**SMS, "message": long_text})
    assert LedgerEntry.objects.get(kind="debit").amount == Decimal("-0.0474")


def test_canceled_deliveries_are_refunded(api, billed, audience):
    log_id = api.post(BLASTS, SMS).json()["id"]
    fanout(log_id)
    assert credits.balance_of(billed.pk) == Decimal("0.9763")
    assert api.post(f"/api/v1/logs/{log_id}/cancel").json()["canceled"] == 3
    assert credits.balance_of(billed.pk) == Decimal("1.0000")
    refund = LedgerEntry.objects.get(kind="refund")
    assert refund.amount == Decimal("0.0237") and refund.message_id == log_id
    assert_ledger_sums(billed)


def test_canceled_before_its_fan_out_nothing_is_debited(api, billed, audience):
    log_id = api.post(BLASTS, SMS).json()["id"]
    api.post(f"/api/v1/logs/{log_id}/cancel")
    fanout(log_id)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"canceled"}
    assert list(LedgerEntry.objects.values_list("kind", flat=True)) == ["topup"]


def test_a_failure_before_the_provider_is_refunded_one_after_it_is_not(api, billed, audience):
    log_id = api.post(BLASTS, SMS).json()["id"]
    fanout(log_id)
    ids, lease = state.claim(log_id, 10, 60)
    first, second, third = ids
    state.record_failed([(first, "21211", "Invalid 'To' number")], provider="twilio", lease=lease)  # never taken
    state.record_sent([(second, "SM1"), (third, "SM2")], provider="twilio", lease=lease)
    state.apply_callbacks("failed", [(second, None, "SM1", "30003", "Unreachable")], provider="twilio")  # billed
    state.apply_callbacks("delivered", [(third, None, "SM2", "", "")], provider="twilio")
    refunds = list(LedgerEntry.objects.filter(kind="refund").values_list("amount", flat=True))
    assert refunds == [Decimal("0.0079")]
    assert credits.balance_of(billed.pk) == Decimal("0.9842")
    assert_ledger_sums(billed)


def test_a_fan_out_the_balance_can_no_longer_pay_fails_its_deliveries(api, billed, audience):
    log_id = api.post(BLASTS, SMS).json()["id"]  # accepted: 1.0000 pays 0.0237
    credits.post(organization_id=billed.pk, kind="adjustment", amount=Decimal("-0.99"))  # spent meanwhile
    assert fanout(log_id) == 3
    rows = set(Delivery.objects.filter(message_id=log_id).values_list("status", "error_code"))
    assert rows == {("failed", "insufficient-credits")}
    assert not LedgerEntry.objects.filter(kind__in=["debit", "refund"]).exists()
    assert state.claim(log_id, 10, 60) == ([], None)
    assert_ledger_sums(billed)


def test_addcredits_adds_a_topup_by_name_or_id(org):
    out = StringIO()
    call_command("addcredits", "Acme", "25.5", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "25.5000"
    call_command("addcredits", str(org.pk), "-5", "--note", "goodwill back", stdout=StringIO(), stderr=StringIO())
    kinds = list(LedgerEntry.objects.order_by("id").values_list("kind", "amount", "note"))
    assert kinds == [("topup", Decimal("25.5"), "added by an operator"), ("adjustment", Decimal("-5"), "goodwill back")]
    with pytest.raises(CommandError):
        call_command("addcredits", "Acme", "-100", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError):
        call_command("addcredits", "Nobody", "1", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError):
        call_command("addcredits", "Acme", "0.00001", stdout=StringIO(), stderr=StringIO())
    assert_ledger_sums(org)


def test_createorg_billing_turns_billing_on(db):
    from connext.models import Organization

    call_command("createorg", "Paying", "--admin-email", "p@paying.test", "--billing", stdout=StringIO(),
                 stderr=StringIO())  # fmt: skip
    call_command("createorg", "Free", "--admin-email", "f@free.test", stdout=StringIO(), stderr=StringIO())
    assert dict(Organization.objects.values_list("name", "billed")) == {"Paying": True, "Free": False}


def test_the_ledger_pages_and_filters_by_day(api, org):
    for n in range(3):
        credits.topup(organization=org, amount=Decimal(n + 1))
    response = api.get("/api/v1/credits/ledger", {"limit": 2})
    assert response.status_code == 200 and response["X-Total-Count"] == "3"
    assert [e["amount"] for e in response.json()] == ["3.0000", "2.0000"]
    assert api.get("/api/v1/credits/ledger", {"from": "2000-01-01", "to": "2000-01-31"}).json() == []
    bad = api.get("/api/v1/credits/ledger", {"from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("from:")
    reversed_ = api.get("/api/v1/credits/ledger", {"from": "2026-02-01", "to": "2026-01-01"})
    assert reversed_.status_code == 400 and reversed_.json()["message"].startswith("to:")


def test_every_role_reads_credits_none_writes_another_organizations(org, other_org, client_for):
    credits.topup(organization=other_org, amount=Decimal(7))
    viewer = client_for(UserFactory(organization=org, email="v@acme.test", role=roles.VIEWER))
    assert viewer.get("/api/v1/credits").json()["balance"] == "0.0000"
    assert viewer.get("/api/v1/credits/ledger").json() == []


def test_voice_fallback_calls_are_charged_when_added_and_not_made_without_credits(api, billed, audience):
    from accounts import metering

    log_id = api.post(BLASTS, {**SMS, "voiceFallback": 1}).json()["id"]
    fanout(log_id)  # texts to ada, bob, cy; a call to eve (text = 0)
    message = Message.objects.select_related("organization").get(pk=log_id)
    before = credits.balance_of(billed.pk)
    assert metering.charge_more(message, "voice", 2)  # two numbers that cannot take texts: called
    assert credits.balance_of(billed.pk) == before - Decimal("0.0280")
    credits.post(organization_id=billed.pk, kind="adjustment", amount=-credits.balance_of(billed.pk))
    assert not metering.charge_more(message, "voice", 1)
    assert_ledger_sums(billed)
