from decimal import Decimal

import pytest
from django.db.models import Sum

from accounts import credits
from accounts.models import Balance, LedgerEntry


def assert_ledger_sums(*orgs) -> None:
    """Each organization's ledger adds up to its balance, and every entry's `balance` is the
    running sum up to it."""
    for org in orgs:
        entries = list(LedgerEntry.objects.filter(organization=org).order_by("id").values_list("amount", "balance"))
        running = Decimal(0)
        for amount, balance in entries:
            running += amount
            assert balance == running, (org, entries)
        stored = Balance.objects.filter(organization=org).values_list("balance", flat=True).first() or Decimal(0)
        assert (
            stored
            == running
            == (LedgerEntry.objects.filter(organization=org).aggregate(s=Sum("amount"))["s"] or Decimal(0))
        )
        assert stored >= 0


@pytest.fixture
def billed(org):
    """`org` with billing on and 1.0000 credit."""
    org.billed = True
    org.save()
    credits.topup(organization=org, amount=Decimal("1"), note="test")
    return org


@pytest.fixture
def twilio(app_client):
    """Twilio calling our hooks (signed), through the app gunicorn serves (tests/logs' fixture)."""
    from tests.signing import twilio_hooks

    with twilio_hooks(app_client) as hooks:
        yield hooks
