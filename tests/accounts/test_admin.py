"""Credits in the admin: operators top up through the ledger; organizations see their own."""

from decimal import Decimal

import pytest

from accounts import credits
from accounts.models import LedgerEntry
from tests.accounts.conftest import assert_ledger_sums

pytestmark = pytest.mark.django_db

ADD = "/admin/accounts/ledgerentry/add/"


def test_an_operator_tops_up_and_adjusts_through_the_ledger(superuser_browser, org):
    response = superuser_browser.post(ADD, {"organization": org.pk, "kind": "topup", "amount": "12.5", "note": "PO 7"})
    assert response.status_code == 302, response.content.decode()[:2000]
    superuser_browser.post(ADD, {"organization": org.pk, "kind": "adjustment", "amount": "-2.5", "note": ""})
    below = superuser_browser.post(ADD, {"organization": org.pk, "kind": "adjustment", "amount": "-11", "note": ""})
    assert below.status_code == 200 and "below zero" in below.content.decode()
    assert credits.balance_of(org.pk) == Decimal("10.0000")
    assert list(LedgerEntry.objects.order_by("id").values_list("kind", "note")) == [("topup", "PO 7"),
                                                                                    ("adjustment", "")]  # fmt: skip
    assert_ledger_sums(org)
    page = superuser_browser.get(f"/admin/connext/organization/{org.pk}/change/").content.decode()
    assert "PO 7" in page and 'name="billed"' in page and 'name="messaging_service_sid"' in page


def test_an_organization_sees_its_own_ledger_and_cannot_write_it(browser, org, other_org):
    credits.topup(organization=org, amount=Decimal(3), note="ours")
    credits.topup(organization=other_org, amount=Decimal(4), note="theirs")
    page = browser.get("/admin/accounts/ledgerentry/").content.decode()
    assert "ours" in page and "theirs" not in page
    assert browser.get(ADD).status_code == 403
    org_page = browser.get(f"/admin/connext/organization/{org.pk}/change/").content.decode()
    assert 'name="billed"' not in org_page  # the operator's
