"""Admin screens for subscribers and the blocklist, scoped to the admin's organization.

Phones and emails typed here are stored as the API stores them (E.164 in the organization's
region, lower-case emails). Blocklist entries are added by hand (`manual`) and never edited;
an organization's admin can remove only manual ones: STOP replies, bounces and complaints
are the recipient's decision (superusers may still remove them).
"""

from django import forms
from django.contrib import admin
from django.db.models import Prefetch

from connext.admin import OrgScopedAdmin
from connext.errors import ApplicationError
from groups.models import Group
from subscribers.addresses import InvalidAddress, normalize_email, normalize_phone, phone_digits
from subscribers.models import BlocklistEntry, Subscriber
from subscribers.services import parse_recipient


def _admin_groups(request):
    groups = Group.objects.select_related("organization").order_by("organization__name", "number")
    if request.user.is_superuser:
        return groups
    return groups.filter(organization_id=request.user.organization_id)


class GroupListFilter(admin.SimpleListFilter):
    """By group: only the admin's organization's groups are offered (every group for a superuser)."""

    title = "group"
    parameter_name = "group"

    def lookups(self, request, model_admin):
        if request.user.is_superuser:
            return [(str(g.pk), f"{g.organization.name} / {g}") for g in _admin_groups(request)]
        return [(str(g.pk), str(g)) for g in _admin_groups(request)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        # The rows are already the admin's organization's: another organization's group matches none.
        return queryset.filter(groups__pk=int(value))


class SubscriberForm(forms.ModelForm):
    """Normalizes phone and email as the API does; groups must be the subscriber's organization's."""

    region: str | None = None  # the admin's organization's region; None: the chosen organization's

    class Meta:
        model = Subscriber
        fields = [
            "organization",
            "first",
            "last",
            "phone",
            "email",
            "address",
            "city",
            "state",
            "zip",
            "enabled",
            "text",
            "groups",
        ]

    def _region(self) -> str:
        if self.region:
            return self.region
        org = self.cleaned_data.get("organization") or getattr(self.instance, "organization", None)
        return org.default_region if org else "US"

    def clean_phone(self):
        value = self.cleaned_data.get("phone", "").strip()
        if not value:
            return ""
        try:
            return normalize_phone(value, self._region())
        except InvalidAddress as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_email(self):
        value = self.cleaned_data.get("email", "").strip()
        if not value:
            return ""
        try:
            return normalize_email(value)
        except InvalidAddress as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        org = cleaned.get("organization")
        if org is not None:  # a superuser's form: groups of another organization are refused
            strays = [g for g in cleaned.get("groups") or [] if g.organization_id != org.pk]
            if strays:
                self.add_error("groups", f"Not groups of {org.name}: {', '.join(map(str, strays))}.")
        return cleaned


@admin.register(Subscriber)
class SubscriberAdmin(OrgScopedAdmin):
    form = SubscriberForm
    show_organization_to_superusers = True
    list_display = ["name", "phone", "email", "group_numbers", "enabled", "text", "created_at"]
    list_filter = [GroupListFilter, "enabled", "text"]
    search_fields = ["first", "last", "phone", "email"]
    search_help_text = "First or last name, phone (any format) or email."
    readonly_fields = ["created_at", "updated_at"]
    filter_horizontal = ["groups"]
    list_per_page = 50

    def get_queryset(self, request):
        groups = Prefetch("groups", queryset=Group.objects.only("id", "number").order_by("number"))
        return super().get_queryset(request).prefetch_related(groups)

    @admin.display(description="name", ordering="last")
    def name(self, obj: Subscriber) -> str:
        return str(obj)  # the name, else the phone, else the email: never blank, so always a link

    @admin.display(description="groups")
    def group_numbers(self, obj: Subscriber) -> str:
        return " ".join(str(group.number) for group in obj.groups.all())

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        digits = phone_digits(search_term.strip())
        if digits:  # "(202) 555-01" finds +12025550143, as the API's keyword does
            results |= queryset.filter(phone__contains=digits)
        return results, may_have_duplicates

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if request.user.is_superuser:
            return form
        return type(form.__name__, (form,), {"region": request.user.organization.default_region})

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = _admin_groups(request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class BlocklistEntryForm(forms.ModelForm):
    """A phone (national in the organization's region, or E.164) or an email, stored as the API stores it."""

    organization_for_admin = None  # the admin's organization; None: a superuser picks one

    class Meta:
        model = BlocklistEntry
        fields = ["organization", "recipient"]
        help_texts = {"recipient": "A phone number (10 digits, formatted, or E.164) or an email address."}

    def clean_recipient(self):
        org = self.organization_for_admin or self.cleaned_data.get("organization")
        if org is None:
            return self.cleaned_data.get("recipient", "")  # the missing organization is reported on its own
        try:
            kind, address = parse_recipient(org, self.cleaned_data.get("recipient", ""))
        except ApplicationError as exc:
            raise forms.ValidationError(str(exc.detail)) from None
        self.instance.type = kind
        return address


@admin.register(BlocklistEntry)
class BlocklistEntryAdmin(OrgScopedAdmin):
    form = BlocklistEntryForm
    show_organization_to_superusers = True
    list_display = ["recipient", "type", "reason", "created_at"]
    list_filter = ["reason", "type"]
    search_fields = ["recipient"]
    readonly_fields = ["type", "reason", "created_at"]
    date_hierarchy = "created_at"

    def get_fields(self, request, obj=None):
        fields = ["recipient", "type", "reason", "created_at"] if obj is not None else ["recipient"]
        return ["organization", *fields] if request.user.is_superuser else fields

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if request.user.is_superuser:
            return form
        return type(form.__name__, (form,), {"organization_for_admin": request.user.organization})

    def save_model(self, request, obj, form, change):
        if not change:
            obj.reason, obj.manual = BlocklistEntry.Reason.MANUAL, True  # type was set from the recipient by the form
        super().save_model(request, obj, form, change)

    def has_change_permission(self, request, obj=None):
        return False  # an entry is a fact with a date: remove it and add another instead

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None or request.user.is_superuser:
            return True
        return obj.reason == BlocklistEntry.Reason.MANUAL
