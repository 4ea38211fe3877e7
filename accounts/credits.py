"""Writes of balances: every one appends its ledger entry, in the caller's transaction, under
the balance row's lock (`SELECT ... FOR UPDATE`), so the ledger always sums to the balance and
concurrent debits never take a balance below zero (the check constraint says so too).

Reads (`balance_of`, `spent_this_month`) lock nothing.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Balance, LedgerEntry
from connext.models import Organization

ZERO = Decimal("0.0000")
PLACES = Decimal("0.0001")


@dataclass
class InsufficientCredits(Exception):
    """A debit the balance (or a sub-account's monthly cap) cannot pay."""

    required: Decimal
    balance: Decimal
    reason: str = "balance"  # or "cap"


def lock_balances(organization_ids) -> dict[int, Decimal]:
    """Lock the balance rows of these organizations (made when missing), in id order so two
    transactions locking the same pair never deadlock; returns their balances."""
    ids = sorted(set(organization_ids))
    Balance.objects.bulk_create([Balance(organization_id=pk) for pk in ids], ignore_conflicts=True)
    rows = Balance.objects.select_for_update().filter(organization_id__in=ids).order_by("organization_id")
    return {row.organization_id: row.balance for row in rows}


def post(
    *,
    organization_id: int,
    kind: str,
    amount: Decimal,
    message_id: int | None = None,
    spender_id: int | None = None,
    counterpart_id: int | None = None,
    note: str = "",
    cap: Decimal | None = None,
) -> LedgerEntry:
    """Move `amount` (signed) on an organization's balance and append the entry. A debit that
    would leave less than zero raises InsufficientCredits; so does one that takes `spender`'s
    spending of this month past `cap`. Runs in (and needs) the caller's transaction, or its own."""
    amount = Decimal(amount).quantize(PLACES)
    with transaction.atomic():
        balance = lock_balances([organization_id])[organization_id]
        after = balance + amount
        if after < 0:
            raise InsufficientCredits(required=-amount, balance=balance)
        if cap is not None and amount < 0 and spender_id is not None:
            spent = spent_this_month(spender_id, account_id=organization_id)
            if spent - amount > cap:
                raise InsufficientCredits(required=-amount, balance=max(cap - spent, ZERO), reason="cap")
        Balance.objects.filter(organization_id=organization_id).update(balance=after, updated_at=timezone.now())
        return LedgerEntry.objects.create(
            organization_id=organization_id,
            kind=kind,
            amount=amount,
            balance=after,
            message_id=message_id,
            spender_id=spender_id,
            counterpart_id=counterpart_id,
            note=note[:255],
        )


def balance_of(organization_id: int) -> Decimal:
    row = Balance.objects.filter(organization_id=organization_id).values_list("balance", flat=True).first()
    return (row if row is not None else ZERO).quantize(PLACES)


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    now = (now or timezone.now()).astimezone(dt.UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_this_month(spender_id: int, *, account_id: int) -> Decimal:
    """What a sub-account drew on `account_id`'s balance since the 1st (UTC), refunds deducted."""
    total = LedgerEntry.objects.filter(
        organization_id=account_id, spender_id=spender_id, created_at__gte=month_start()
    ).aggregate(total=Sum("amount"))["total"]
    return (-(total or ZERO)).quantize(PLACES)


def ledger_of(organization: Organization):
    """An organization's entries, newest first: those of its balance, and those it spent from
    its parent's (drawing on it)."""
    return LedgerEntry.objects.filter(Q(organization=organization) | Q(spender=organization)).order_by("-id")


@transaction.atomic
def topup(*, organization: Organization, amount: Decimal, note: str = "", kind: str = LedgerEntry.Kind.TOPUP):
    """Credits an operator adds (or, as an adjustment, takes away: never below zero)."""
    return post(organization_id=organization.pk, kind=kind, amount=amount, note=note)


@transaction.atomic
def transfer(*, parent: Organization, child: Organization, amount: Decimal, note: str = "") -> tuple[Decimal, Decimal]:
    """Move credits from parent to child (negative: back to the parent), both entries in one
    transaction; neither balance goes below zero. Returns (child's, parent's) balances after."""
    amount = Decimal(amount).quantize(PLACES)
    lock_balances([parent.pk, child.pk])
    text = note or (f"to sub-account {child.name}" if amount > 0 else f"back from sub-account {child.name}")
    if amount > 0:
        parent_entry = post(organization_id=parent.pk, kind=LedgerEntry.Kind.TRANSFER, amount=-amount,
                            counterpart_id=child.pk, note=text)  # fmt: skip
        child_entry = post(organization_id=child.pk, kind=LedgerEntry.Kind.TRANSFER, amount=amount,
                           counterpart_id=parent.pk, note=note or f"from {parent.name}")  # fmt: skip
    else:
        child_entry = post(organization_id=child.pk, kind=LedgerEntry.Kind.TRANSFER, amount=amount,
                           counterpart_id=parent.pk, note=note or f"back to {parent.name}")  # fmt: skip
        parent_entry = post(organization_id=parent.pk, kind=LedgerEntry.Kind.TRANSFER, amount=-amount,
                            counterpart_id=child.pk, note=text)  # fmt: skip
    return child_entry.balance, parent_entry.balance
