"""Credits in the admin: each organization's balance and ledger (read-only: the ledger is
append-only), and a top-up form for operators that writes through `accounts.credits`, so the
ledger still sums to the balance. Sub-accounts and sender identities are fields of the
organization's own page (connext.admin.OrganizationAdmin), which also lists its ledger."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from accounts import credits
from accounts.models import Balance, LedgerEntry
from connext.admin import OrganizationAdmin, OrgScopedAdmin, ReadOnlyAdmin
from connext.models import Organization


class LedgerInline(admin.TabularInline):
    """The organization's latest ledger entries, on its page."""

    model = LedgerEntry
    fk_name = "organization"
    fields = ["created_at", "kind", "amount", "balance", "message", "note"]
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "ledger (newest first; Accounts and credits -> Ledger entries has all)"

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-id")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# The organization's page shows its ledger; the operator's fields there include billing.
OrganizationAdmin.inlines = [*OrganizationAdmin.inlines, LedgerInline]


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["organization", "balance", "billed", "mode", "updated_at"]
    search_fields = ["organization__name"]

    @admin.display(boolean=True)
    def billed(self, row) -> bool:
        return row.organization.billed

    @admin.display(description="credit mode")
    def mode(self, row) -> str:
        return row.organization.credit_mode if row.organization.parent_id else "own"


class TopUpForm(forms.ModelForm):
    """An operator's movement of credits: a top-up, or an adjustment either way."""

    class Meta:
        model = LedgerEntry
        fields = ["organization", "kind", "amount", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(LedgerEntry.Kind.TOPUP, "top-up"), (LedgerEntry.Kind.ADJUSTMENT, "adjustment")]

    def clean(self):
        data = super().clean()
        kind, amount = data.get("kind"), data.get("amount")
        if amount is not None and (not amount or (kind == LedgerEntry.Kind.TOPUP and amount < 0)):
            raise ValidationError({"amount": "A top-up adds credits: a positive amount (an adjustment may take)."})
        org = data.get("organization")
        if org is not None and amount is not None and credits.balance_of(org.pk) + amount < 0:
            raise ValidationError({"amount": "The balance cannot go below zero."})
        return data


@admin.register(LedgerEntry)
class LedgerEntryAdmin(OrgScopedAdmin):
    """Every organization's ledger (an organization's staff see theirs). Operators add top-ups
    and adjustments here; no entry is ever changed or deleted."""

    list_display = ["created_at", "organization", "kind", "amount", "balance", "message", "spender", "note"]
    list_filter = ["kind"]
    search_fields = ["organization__name", "note"]
    form = TopUpForm
    show_organization_to_superusers = True

    def get_list_display(self, request):
        return self.list_display

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        entry = credits.topup(organization=obj.organization, amount=obj.amount, note=obj.note, kind=obj.kind)
        obj.pk = entry.pk
        messages.info(request, f"{obj.organization}: balance now {entry.balance}.")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "organization":
            kwargs["queryset"] = Organization.objects.order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
