from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from accounts import credits
from accounts.models import LedgerEntry
from connext.models import Organization


class Command(BaseCommand):
    help = "Add credits to an organization's balance (a top-up ledger entry; negative: an adjustment down)."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="The organization's name or id.")
        parser.add_argument("amount", help="Credits, e.g. 25 or 12.5 (at most 4 decimal places).")
        parser.add_argument("--note", default="", help="Why (shown in the ledger).")

    def handle(self, *args, organization, amount, note, **options):
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise CommandError(f"{amount!r} is not an amount.") from None
        if not value.is_finite() or not value or value != value.quantize(credits.PLACES) or abs(value) >= 10**14:
            raise CommandError("The amount must be non-zero, below 10^14, with at most 4 decimal places.")
        orgs = Organization.objects.filter(pk=int(organization)) if organization.isdigit() else None
        if not orgs:
            orgs = Organization.objects.filter(name=organization)
        if len(orgs) != 1:
            raise CommandError(f"{'No' if not orgs else 'More than one'} organization {organization!r}.")
        org = orgs[0]
        kind = LedgerEntry.Kind.TOPUP if value > 0 else LedgerEntry.Kind.ADJUSTMENT
        try:
            entry = credits.topup(organization=org, amount=value, note=note or "added by an operator", kind=kind)
        except credits.InsufficientCredits as exc:
            raise CommandError(f"The balance is {exc.balance}: it cannot go below zero.") from None
        self.stderr.write(f"{org.name}: {value:+} credits.")
        self.stdout.write(str(entry.balance))
