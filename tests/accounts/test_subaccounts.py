"""Sub-accounts over HTTP: made with their first admin and API key, managed by the parent's org
admin (settings, credits, suspension), never reading each other's data."""

from decimal import Decimal

import pytest

from accounts import credits
from accounts.models import LedgerEntry
from blasts.dispatch import dispatch
from blasts.fanout import fanout
from connext import roles
from connext.models import Organization, User
from logs.models import Delivery
from tests.accounts.conftest import assert_ledger_sums
from tests.conftest import ApiClient
from tests.factories import GroupFactory, SubscriberFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

SUBS = "/api/v1/subaccounts"


@pytest.fixture
def child(api):
    """A sub-account of `org` (Acme): (its id, a client with its first API key)."""
    response = api.post(SUBS, {"name": "Acme West", "timezone": "America/Los_Angeles", "region": "CA",
                               "adminEmail": "Admin@West.test"})  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    return body["id"], ApiClient(body["apiKey"])


def texting_group(org, phones):
    group = GroupFactory(organization=org, number=1)
    for phone in phones:
        SubscriberFactory(organization=org, phone=phone, text=True, groups=[group])
    return group


def test_create_returns_the_child_with_its_first_admin_and_key_once(api, org):
    response = api.post(SUBS, {"name": "Acme West", "adminEmail": "west@acme.test"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["apiKey"].startswith("cnxt_") and body["adminEmail"] == "west@acme.test"
    assert {k: body[k] for k in ("name", "timezone", "region", "active", "creditMode", "monthlyCap", "balance")} == {
        "name": "Acme West", "timezone": "UTC", "region": "US", "active": 1, "creditMode": "own",
        "monthlyCap": None, "balance": "0.0000",
    }  # fmt: skip
    child = Organization.objects.get(pk=body["id"])
    assert child.parent == org and child.billed  # billed from its creation
    admin = User.objects.get(email="west@acme.test")
    assert admin.organization == child and admin.groups.filter(name=roles.ORG_ADMIN).exists()
    assert "apiKey" not in api.get(f"{SUBS}/{child.pk}").json()
    assert ApiClient(body["apiKey"]).get("/api/v1/credits").json()["billed"] == 1


def test_list_retrieve_and_patch(api, child):
    child_id, _ = child
    rows = api.get(SUBS).json()
    assert [r["id"] for r in rows] == [child_id] and rows[0]["timezone"] == "America/Los_Angeles"
    patched = api.patch(f"{SUBS}/{child_id}", {"name": "Acme Pacific", "active": False, "creditMode": "parent",
                                               "monthlyCap": "5.5"})  # fmt: skip
    assert patched.status_code == 200, patched.content
    assert {k: patched.json()[k] for k in ("name", "active", "creditMode", "monthlyCap")} == {
        "name": "Acme Pacific", "active": 0, "creditMode": "parent", "monthlyCap": "5.5000"}  # fmt: skip
    assert api.get(f"{SUBS}/{child_id}").json()["name"] == "Acme Pacific"
    bad = api.patch(f"{SUBS}/{child_id}", {"timezone": "Mars/Olympus"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("timezone:")


def test_a_duplicate_admin_email_is_400_and_writes_nothing(api, admin_user):
    with nothing_written(Organization, User):
        response = api.post(SUBS, {"name": "Dup", "adminEmail": admin_user.email})
    assert response.status_code == 400 and response.json()["message"].startswith("adminEmail:")


def test_another_organizations_sub_account_is_404(api, other_api, child):
    child_id, _ = child
    assert other_api.get(SUBS).json() == []
    assert other_api.get(f"{SUBS}/{child_id}").status_code == 404
    with nothing_written(Organization, LedgerEntry):
        assert other_api.patch(f"{SUBS}/{child_id}", {"active": False}).status_code == 404
        assert other_api.post(f"{SUBS}/{child_id}/credits", {"amount": "1"}).status_code == 404


def test_a_sub_account_has_no_sub_accounts_and_cannot_manage_its_parent(api, org, child):
    _, child_api = child
    response = child_api.post(SUBS, {"name": "Grandchild", "adminEmail": "g@acme.test"})
    assert response.status_code == 403 and "sub-account" in response.json()["message"]
    assert child_api.get(SUBS).json() == []
    assert child_api.get(f"{SUBS}/{org.pk}").status_code == 404


def test_parent_and_child_never_read_each_others_data(api, org, child):
    child_id, child_api = child
    theirs = SubscriberFactory(organization_id=child_id, phone="+12025550150")
    ours = SubscriberFactory(organization=org, phone="+12025550151")
    assert api.get(f"/api/v1/subscribers/{theirs.pk}").status_code == 404
    assert child_api.get(f"/api/v1/subscribers/{ours.pk}").status_code == 404
    assert [s["id"] for s in api.get("/api/v1/subscribers").json()] == [ours.pk]


def test_only_org_admins_manage_sub_accounts(org, child, client_for):
    child_id, _ = child
    sender = client_for(UserFactory(organization=org, email="s@acme.test", role=roles.SENDER))
    assert sender.get(SUBS).status_code == 403
    assert sender.post(SUBS, {"name": "x", "adminEmail": "x@acme.test"}).status_code == 403
    assert sender.post(f"{SUBS}/{child_id}/credits", {"amount": "1"}).status_code == 403


def test_transfers_move_credits_both_ways_never_below_zero(api, org, child):
    child_id, child_api = child
    credits.topup(organization=org, amount=Decimal(10))  # org is not billed: a transfer still draws on it
    response = api.post(f"{SUBS}/{child_id}/credits", {"amount": "4.25", "note": "December"})
    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in ("amount", "balance", "parentBalance")} == {
        "amount": "4.2500", "balance": "4.2500", "parentBalance": "5.7500"}  # fmt: skip
    assert child_api.get("/api/v1/credits").json()["balance"] == "4.2500"
    child_ledger = child_api.get("/api/v1/credits/ledger").json()
    assert [(e["kind"], e["amount"], e["note"]) for e in child_ledger] == [("transfer", "4.2500", "December")]
    with nothing_written(LedgerEntry):
        too_much = api.post(f"{SUBS}/{child_id}/credits", {"amount": "-5"})
        assert too_much.status_code == 400 and too_much.json()["message"].startswith("amount:")
        short = api.post(f"{SUBS}/{child_id}/credits", {"amount": "6"})
        assert short.status_code == 400 and short.json()["message"].startswith("amount:")
        zero = api.post(f"{SUBS}/{child_id}/credits", {"amount": "0"})
        assert zero.status_code == 400
        assert api.post(f"{SUBS}/{child_id}/credits", {"amount": "1.00001"}).status_code == 400
    back = api.post(f"{SUBS}/{child_id}/credits", {"amount": -4.25})
    assert back.status_code == 200 and back.json()["balance"] == "0.0000" and back.json()["parentBalance"] == "10.0000"
    assert_ledger_sums(org, Organization.objects.get(pk=child_id))


def test_a_child_pays_its_blasts_from_its_own_balance(api, org, child, run_jobs):
    child_id, child_api = child
    texting_group(Organization.objects.get(pk=child_id), ["+12025550160", "+12025550161"])
    blast = {"types": ["sms"], "groups": [1], "message": "Hi"}
    refused = child_api.post("/api/v1/blasts", blast)
    assert (
        refused.status_code == 402 and refused.json()["required"] == "0.0158" and refused.json()["balance"] == "0.0000"
    )
    credits.topup(organization=org, amount=Decimal(1))
    api.post(f"{SUBS}/{child_id}/credits", {"amount": "0.02"})
    assert run_jobs(child_api.post, "/api/v1/blasts", blast).status_code == 200
    assert child_api.get("/api/v1/credits").json()["balance"] == "0.0042"
    assert api.get(f"{SUBS}/{child_id}").json()["balance"] == "0.0042"


def test_a_child_drawing_on_its_parent_within_a_monthly_cap(api, org, child, run_jobs):
    child_id, child_api = child
    texting_group(Organization.objects.get(pk=child_id), ["+12025550160", "+12025550161"])
    org.billed = True
    org.save()
    credits.topup(organization=org, amount=Decimal(1))
    api.patch(f"{SUBS}/{child_id}", {"creditMode": "parent", "monthlyCap": "0.02"})
    blast = {"types": ["sms"], "groups": [1], "message": "Hi"}
    assert run_jobs(child_api.post, "/api/v1/blasts", blast).status_code == 200  # 0.0158 of the 0.02 cap
    entry = LedgerEntry.objects.get(kind="debit")
    assert entry.organization == org and entry.spender_id == child_id and entry.amount == Decimal("-0.0158")
    mine = child_api.get("/api/v1/credits").json()
    assert mine["mode"] == "parent" and mine["spentThisMonth"] == "0.0158" and mine["available"] == "0.0042"
    assert [e["kind"] for e in child_api.get("/api/v1/credits/ledger").json()] == ["debit"]  # its draws
    capped = child_api.post("/api/v1/blasts", blast)
    assert capped.status_code == 402 and capped.json()["balance"] == "0.0042"
    assert "monthly cap" in capped.json()["message"]
    assert credits.balance_of(org.pk) == Decimal("0.9842")
    assert_ledger_sums(org)


def test_a_suspended_child_cannot_send_and_its_queued_deliveries_wait(api, child, run_jobs):
    child_id, child_api = child
    child_org = Organization.objects.get(pk=child_id)
    child_org.billed = False  # its credits are not the point here
    child_org.save()
    texting_group(child_org, ["+12025550160"])
    blast = {"types": ["sms"], "groups": [1], "message": "Hi"}
    log_id = child_api.post("/api/v1/blasts", blast).json()["id"]
    fanout(log_id)
    assert api.patch(f"{SUBS}/{child_id}", {"active": 0}).status_code == 200
    assert dispatch(log_id, budget_seconds=5) == "done"
    assert Delivery.objects.get(message_id=log_id).status == "queued"  # waits
    refused = child_api.post("/api/v1/blasts", blast)
    assert refused.status_code == 403 and "suspended" in refused.json()["message"]
    assert child_api.post("/api/v1/blasts/test", {"types": ["sms"], "message": "x"}).status_code == 403
    api.patch(f"{SUBS}/{child_id}", {"active": 1})
    run_jobs(dispatch, log_id, budget_seconds=5)
    assert Delivery.objects.get(message_id=log_id).status == "delivered"


def test_a_deleted_sub_accounts_draws_stay_in_its_parents_ledger(api, org, child, run_jobs):
    child_id, child_api = child
    texting_group(Organization.objects.get(pk=child_id), ["+12025550160"])
    org.billed = True
    org.save()
    credits.topup(organization=org, amount=Decimal(1))
    api.patch(f"{SUBS}/{child_id}", {"creditMode": "parent"})
    sent = run_jobs(child_api.post, "/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi"})
    assert sent.status_code == 200, sent.content
    Organization.objects.get(pk=child_id).delete()
    assert credits.balance_of(org.pk) == Decimal("0.9921")
    assert_ledger_sums(org)
