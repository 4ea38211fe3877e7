"""Metering: what a blast costs, who pays, the reservation at fan-out and the refunds.

- `payer_of(org)`: whose balance pays an organization's sends. None when nobody is checked: a
  top-level organization an operator has not turned billing on for (the quick start sends
  freely), or a sub-account drawing on such a parent.
- `check_affordable` (POST /blasts): a suspended organization gets a 403; a blast the payer's
  balance (or the sub-account's monthly cap) cannot pay gets a 402 {message, required, balance}.
- `price` + `reserve` (the fan-out's transaction): the Charge rows (price per delivery and
  channel), then the whole cost debited in one ledger entry: nothing per recipient.
- `refund_changes` (an in-transaction listener of connext.changes): deliveries that end
  canceled, or failed without a provider taking them (no provider id), are credited back, one
  entry per message and batch, in the transaction of the change.
"""

from collections import defaultdict
from decimal import Decimal

from django.conf import settings

from accounts import credits
from accounts.models import Charge, LedgerEntry
from connext import changes
from connext.errors import ApplicationError
from connext.models import Organization
from logs.models import Delivery, Message

CANCELED = Delivery.Status.CANCELED
FAILED = Delivery.Status.FAILED

# message id -> (payer id or None, sender organization id, {channel: unit price}); a message's
# charges never change once its fan-out committed (and no delivery of it exists before).
_REMEMBERED = 20_000
_charges: dict[int, tuple[int | None, int, dict[str, Decimal]]] = {}


def forget() -> None:
    """Drop the remembered charges (tests: SQLite hands a rolled-back message's id out again)."""
    _charges.clear()


def payer_of(organization: Organization) -> Organization | None:
    if not organization.billed:
        return None
    if organization.credit_mode == "parent" and organization.parent_id is not None:
        parent = organization.parent
        return parent if parent.billed else None
    return organization


def _cap_of(organization: Organization, payer: Organization):
    return organization.monthly_cap if payer.pk != organization.pk else None


def money(amount: Decimal) -> str:
    return f"{amount.quantize(credits.PLACES)} {settings.PRICE_CURRENCY}"


def available(organization: Organization) -> Decimal | None:
    """What the organization may still spend now; None when it is not billed."""
    payer = payer_of(organization)
    if payer is None:
        return None
    balance = credits.balance_of(payer.pk)
    cap = _cap_of(organization, payer)
    if cap is not None:
        balance = min(balance, max(cap - credits.spent_this_month(organization.pk, account_id=payer.pk), credits.ZERO))
    return balance


def sending_allowed(organization: Organization) -> bool:
    """False while the organization, or the parent it is a sub-account of, is suspended: its
    queued deliveries wait (the dispatcher leaves them; the sweeper wakes it again later)."""
    return organization.active and (organization.parent_id is None or organization.parent.active)


def check_sending_allowed(organization: Organization) -> None:
    if not sending_allowed(organization):
        raise ApplicationError(
            "This account is suspended: it cannot send. Ask the organization that manages it to reactivate it.",
            status_code=403,
        )


def check_affordable(organization: Organization, cost: Decimal) -> None:
    """POST /blasts: refuse (402) a blast the organization's credits cannot pay now. The fan-out
    reserves the cost again under the balance's lock: concurrent blasts never overdraw."""
    check_sending_allowed(organization)
    can_spend = available(organization)
    if can_spend is None or cost <= can_spend:
        return
    payer = payer_of(organization)
    what = "the monthly cap left" if _cap_of(organization, payer) is not None else "the balance"
    raise ApplicationError(
        f"Not enough credits: this blast costs {money(cost)} and {what} is {money(can_spend)}.",
        status_code=402,
        extra={"required": str(cost.quantize(credits.PLACES)), "balance": str(can_spend.quantize(credits.PLACES))},
    )


def price(message: Message, prices: dict[str, tuple[Decimal, int]]) -> Organization | None:
    """The message's Charge rows: per channel, (price of one delivery, its SMS segments). Returns
    the payer (None: not billed). Before the deliveries are inserted: the rollups read them."""
    payer = payer_of(message.organization)
    Charge.objects.bulk_create(
        [Charge(message=message, channel=channel, unit_price=unit, segments=segments,
                account_id=payer.pk if payer else None)
         for channel, (unit, segments) in prices.items()],
        ignore_conflicts=True,
    )  # fmt: skip
    return payer


def reserve(message: Message, payer: Organization | None, prices: dict, created: dict[str, int]) -> bool:
    """Debit the cost of `created` deliveries per channel from the payer, in one entry. False
    (nothing written) when the balance or the cap cannot pay."""
    if payer is None:
        return True
    cost = sum((prices[channel][0] * n for channel, n in created.items() if n), credits.ZERO)
    if not cost:
        return True
    org = message.organization
    try:
        credits.post(
            organization_id=payer.pk,
            kind=LedgerEntry.Kind.DEBIT,
            amount=-cost,
            message_id=message.pk,
            spender_id=org.pk if payer.pk != org.pk else None,
            note=f"blast {message.pk}: {sum(created.values())} deliveries"
            + (f" by sub-account {org.name}" if payer.pk != org.pk else ""),
            cap=_cap_of(org, payer),
        )
    except credits.InsufficientCredits:
        return False
    return True


def charge_more(message: Message, channel: str, n: int) -> bool:
    """Deliveries added to a fanned-out message (a text's voice fallback): their cost debited
    now, at the price fixed at the fan-out. False when the credits cannot pay them."""
    charge = Charge.objects.filter(message=message, channel=channel).values("unit_price", "account_id").first()
    if charge is None or charge["account_id"] is None or not charge["unit_price"]:
        return True
    payer = Organization.objects.get(pk=charge["account_id"])
    return reserve(message, payer, {channel: (charge["unit_price"], 1)}, {channel: n})


def _charges_of(message_ids: set[int]) -> dict[int, tuple[int | None, int, dict[str, Decimal]]]:
    missing = [pk for pk in message_ids if pk not in _charges]
    if missing:
        if len(_charges) > _REMEMBERED:
            _charges.clear()
        found: dict[int, tuple] = {
            pk: (None, org_id, {})
            for pk, org_id in Message.objects.filter(pk__in=missing).values_list("pk", "organization_id")
        }
        for row in Charge.objects.filter(message_id__in=missing).values(
            "message_id", "channel", "unit_price", "account_id"
        ):
            _, org_id, units = found[row["message_id"]]
            units[row["channel"]] = row["unit_price"]
            found[row["message_id"]] = (row["account_id"], org_id, units)
        _charges.update(found)
    return {pk: _charges[pk] for pk in message_ids if pk in _charges}


def refunded(change) -> bool:
    """Whether a delivery's change earns its refund: canceled, or failed before any provider
    took it (no provider id: a provider that took it has billed us)."""
    return change.status == CANCELED or (change.status == FAILED and not change.provider_id)


def may_refund(status: str) -> bool:
    """Whether deliveries moved to `status` may earn a refund (see `refunded`)."""
    return status in (CANCELED, FAILED)


def refund_changes(batch: tuple) -> None:
    """The in-transaction listener: refunds for the batch's canceled and unsent failed deliveries."""
    due = [c for c in batch if type(c) is changes.DeliveryStatusChanged and refunded(c)]
    if not due:
        return
    charges = _charges_of({c.message_id for c in due})
    amounts: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[int, int, int], int] = defaultdict(int)
    for change in due:
        account, org_id, units = charges.get(change.message_id, (None, 0, {}))
        unit = units.get(change.channel)
        if account is None or not unit:
            continue
        amounts[(account, change.message_id, org_id)] += unit
        counts[(account, change.message_id, org_id)] += 1
    for (account, message_id, org_id), amount in sorted(amounts.items()):
        n = counts[(account, message_id, org_id)]
        credits.post(
            organization_id=account,
            kind=LedgerEntry.Kind.REFUND,
            amount=amount,
            message_id=message_id,
            spender_id=org_id if org_id != account else None,
            note=f"blast {message_id}: {n} deliveries canceled or not sent",
        )
