"""Credits: one balance per organization and the append-only ledger that explains it, and the
price of a message's deliveries fixed at its fan-out (`Charge`).

The balance is the sum of the ledger: every write of a balance (`accounts.credits`) appends
its entry in the same transaction, under the balance row's lock, with the balance after it.
Amounts are exact decimals with 4 places (no float anywhere on the way).
"""

from django.db import models
from django.db.models import Q

AMOUNT = {"max_digits": 18, "decimal_places": 4}


class Balance(models.Model):
    """An organization's credits. The row is made on first use; none means 0."""

    organization = models.OneToOneField(
        "connext.Organization", on_delete=models.CASCADE, primary_key=True, related_name="credit_balance"
    )
    balance = models.DecimalField(default=0, **AMOUNT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="balance_never_below_zero")]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.balance}"


class LedgerEntry(models.Model):
    """One movement of an organization's balance: `amount` (positive credits it, negative
    debits it) and the balance right after. Never updated nor deleted."""

    class Kind(models.TextChoices):
        TOPUP = "topup"
        DEBIT = "debit"
        REFUND = "refund"
        TRANSFER = "transfer"
        ADJUSTMENT = "adjustment"

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="ledger")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**AMOUNT)
    balance = models.DecimalField(**AMOUNT, help_text="The balance after this entry.")
    # The blast a debit or refund is for (no constraint: a deleted message keeps its entries).
    message = models.ForeignKey(
        "logs.Message", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    # Who spent, when not the owner of the balance: a sub-account drawing on its parent's. A
    # deleted sub-account's draws stay in its parent's ledger (which must still sum up).
    spender = models.ForeignKey(
        "connext.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The other side of a transfer.
    counterpart = models.ForeignKey(
        "connext.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["organization", "-id"], name="ledger_org_newest"),
            models.Index(fields=["spender", "created_at"], condition=Q(spender__isnull=False), name="ledger_spender"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} -> {self.balance}"


class Charge(models.Model):
    """What one delivery of a message on a channel costs (the estimate's price x its segments),
    fixed at the fan-out, and whose balance pays it (`account`; null: not billed). Debits,
    refunds and the analytics rollups all read it."""

    message = models.ForeignKey("logs.Message", on_delete=models.CASCADE, db_constraint=False, related_name="+")
    channel = models.CharField(max_length=16)
    unit_price = models.DecimalField(**AMOUNT)
    segments = models.PositiveIntegerField(default=1)
    account = models.ForeignKey(
        "connext.Organization", on_delete=models.SET_NULL, db_constraint=False, null=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "channel"], name="charge_once_per_channel")]

    def __str__(self) -> str:
        return f"{self.message_id} {self.channel}: {self.unit_price}"
