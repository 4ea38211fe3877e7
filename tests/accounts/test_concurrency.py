"""Concurrent fan-outs, cancels and transfers on one balance (PostgreSQL, real row locks): the
balance never goes below zero, every blast is either paid in full or fails unpaid, refunds match
what was canceled, and the ledger always sums to the balance."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connections

from accounts import credits, services
from accounts.models import LedgerEntry
from blasts import compose
from blasts.fanout import fanout
from connext import celery_app
from connext.errors import ApplicationError
from logs import state
from logs.models import Delivery
from tests.accounts.conftest import assert_ledger_sums
from tests.conftest import SQLITE
from tests.factories import GroupFactory, OrganizationFactory, SubscriberFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="row locks are PostgreSQL's"),
]

UNIT = Decimal("0.0079")


def run_all(jobs, threads: int = 4) -> list[BaseException]:
    """Run the callables on `threads` threads, each job on a database connection of its thread."""
    pending, errors, lock = list(jobs), [], threading.Lock()

    def worker():
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    job = pending.pop()
                try:
                    job()
                except Exception as exc:
                    errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    return errors


def test_concurrent_blasts_cancels_and_transfers_never_overdraw(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_default_queue", f"test-{uuid.uuid4().hex[:12]}")  # no worker reads it
    parent = OrganizationFactory(name="Parent", billed=True)
    credits.topup(organization=parent, amount=Decimal(1))
    child, _, _ = services.subaccount_create(parent=parent, admin_email="kid@parent.test", name="Kid")
    user = UserFactory(organization=child, email="sender@parent.test")
    group = GroupFactory(organization=child, number=1)
    for n in range(10):
        SubscriberFactory(organization=child, phone=f"+1202555{n + 300:04d}", text=True, groups=[group])
    services.subaccount_transfer(parent=parent, subaccount=child, amount=Decimal("0.5"))  # pays 6 blasts of 0.079
    blast = {"types": ["sms"], "groups": [1], "message": "Hi"}
    ids = [compose.blast_create(user=user, data=blast).pk for _ in range(12)]  # each alone is affordable

    jobs = [lambda pk=pk: fanout(pk) for pk in ids]
    jobs += [lambda pk=pk: state.cancel(pk) for pk in ids[::3]]
    jobs += [lambda: services.subaccount_transfer(parent=parent, subaccount=child, amount=Decimal("0.1"))] * 3
    jobs += [lambda: credits.transfer(parent=parent, child=child, amount=Decimal("-0.05"))] * 3
    errors = run_all(jobs)
    # The only refusals: a transfer the balance could not pay at its moment.
    assert all(isinstance(e, (ApplicationError, credits.InsufficientCredits)) for e in errors), errors
    for pk in ids:  # a cancel that came first leaves the fan-out nothing to do: finish them all
        fanout(pk)

    assert credits.balance_of(child.pk) >= 0
    assert_ledger_sums(parent, child)
    for pk in ids:
        statuses = list(Delivery.objects.filter(message_id=pk).values_list("status", "error_code"))
        assert len(statuses) == 10
        debits = LedgerEntry.objects.filter(message_id=pk, kind="debit")
        refunds = LedgerEntry.objects.filter(message_id=pk, kind="refund")
        if ("failed", "insufficient-credits") in statuses:
            assert set(statuses) == {("failed", "insufficient-credits")} and not debits.exists()
            continue
        charged = sum(-e.amount for e in debits) - sum(e.amount for e in refunds)
        not_canceled = sum(1 for s, _ in statuses if s != "canceled")
        assert charged == UNIT * not_canceled, (pk, statuses)
    # 0.5, less at most 0.15 taken back, pays at least 4 of the 8 blasts not canceled first.
    assert LedgerEntry.objects.filter(organization=child, kind="debit").count() >= 4
