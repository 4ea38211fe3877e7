"""Admin panel: each organization's staff see and edit only their organization's rows;
superusers see everything, and are seen only by superusers (an organization's admin
never sees, picks or changes a superuser, even one in their organization)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from connext.models import Organization, User


class OrgScopedAdmin(admin.ModelAdmin):
    """Base for every admin screen of organization data.

    `org_field` is the lookup path to the organization. New rows get the
    admin's organization; foreign keys offer only rows of that organization.
    """

    org_field = "organization"
    # Superusers, who see every organization, get its column and filter on the list.
    show_organization_to_superusers = False

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        return [*columns, "organization"] if self._shows_organization(request) else columns

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        return [*filters, "organization"] if self._shows_organization(request) else filters

    def _shows_organization(self, request) -> bool:
        return self.show_organization_to_superusers and request.user.is_superuser

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{self.org_field: request.user.organization_id})

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and self.org_field == "organization":
            exclude.append("organization")
        return exclude

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if request.user.is_superuser or self.org_field != "organization":
            return form
        org_id = request.user.organization_id

        class OrgForm(form):
            """Sets the organization before validation, so per-organization unique
            constraints (a group's number) are checked as form errors, not crashes."""

            def _post_clean(self):
                if self.instance.organization_id is None:
                    self.instance.organization_id = org_id
                super()._post_clean()

            def _get_validation_exclusions(self):
                exclusions = super()._get_validation_exclusions()
                exclusions.discard("organization")
                return exclusions

        return OrgForm

    def save_model(self, request, obj, form, change):
        if not change and not request.user.is_superuser and self.org_field == "organization":
            obj.organization_id = request.user.organization_id
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return self._scoped(request, db_field, super().formfield_for_foreignkey(db_field, request, **kwargs))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return self._scoped(request, db_field, super().formfield_for_manytomany(db_field, request, **kwargs))

    def _scoped(self, request, db_field, field):
        """Choices of a relation limited to the admin's organization (and, for users, to
        users who are not superusers)."""
        if request.user.is_superuser or field is None:
            return field
        model = db_field.related_model
        if model is Organization:
            field.queryset = field.queryset.filter(pk=request.user.organization_id)
        elif any(f.name == "organization" for f in model._meta.get_fields()):
            field.queryset = field.queryset.filter(organization_id=request.user.organization_id)
        if model is User:
            field.queryset = field.queryset.filter(is_superuser=False)
        return field


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows: a list of millions (deliveries) pages through its first
    COUNT_CAP without counting the rest on every page."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if hasattr(rows, "order_by"):
            rows = rows.order_by()  # any COUNT_CAP rows will do: no sort to count them
        return rows[: self.COUNT_CAP].count()


class ReadOnlyAdmin(OrgScopedAdmin):
    """Organization data the admin shows but never edits (what was sent, and how it went)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "timezone", "default_region", "active", "billed", "rate_limit", "created_at"]
    list_filter = ["billed", "active"]
    search_fields = ["name"]
    # The operator's: how fast an organization may call the API, what it sends through and from
    # (its org admins set the sender over the API, PATCH /organization, where it is checked),
    # whether and how it pays, and whose sub-account it is.
    operator_fields = ["rate_limit", "routes", "sender_phone", "messaging_service_sid", "sender_email", "sender_name",
                       "parent", "active", "billed", "credit_mode", "monthly_cap"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else self.operator_fields

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        # Its own, and its sub-accounts' settings (never their data: those screens stay scoped).
        return qs.filter(Q(pk=request.user.organization_id) | Q(parent_id=request.user.organization_id))

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(User)
class UserAdmin(OrgScopedAdmin, BaseUserAdmin):
    list_display = ["email", "first_name", "last_name", "organization", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_active", "groups"]
    search_fields = ["email", "first_name", "last_name"]
    ordering = ["email"]
    fieldsets = [
        (None, {"fields": ["email", "username", "password", "organization"]}),
        ("Personal", {"fields": ["first_name", "last_name", "phone"]}),
        ("Access", {"fields": ["is_active", "is_staff", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    superuser_fieldsets = [
        *fieldsets[:2],
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        fieldsets[3],
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "username", "organization", "password1", "password2"]})
    ]

    def get_queryset(self, request):
        users = super().get_queryset(request)
        return users if request.user.is_superuser else users.filter(is_superuser=False)

    def get_object(self, request, object_id, from_field=None):
        """A user the admin may not see (another organization's, a superuser) or none at all:
        404 on every page of one (change, password, delete, history), not a redirect that
        tells the two apart."""
        user = super().get_object(request, object_id, from_field)
        if user is None:
            raise Http404("No such user.")
        return user

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fieldsets = self.add_fieldsets
        else:
            fieldsets = self.superuser_fieldsets if request.user.is_superuser else self.fieldsets
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "organization"]}) for name, opts in fieldsets
        ]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups" and not request.user.is_superuser:
            from connext.roles import ROLE_PERMISSIONS

            field.queryset = field.queryset.filter(name__in=list(ROLE_PERMISSIONS))
        return field


# The order of a progress bar's segments: finished first (left), then what is still to go.
BAR_ORDER = ["delivered", "sent", "failed", "canceled", "sending", "queued"]


def progress_bar(counts: dict[str, int], total: int, percent: int, *, label: str = "progress") -> str:
    """A stacked bar of `counts` per status out of `total` (panel/static/panel/admin.css colours
    each status; the rest of the bar is what is not made yet), then `percent` finished."""
    segments = format_html_join(
        "",
        '<span class="cx-bar cx-{}" style="width:{}%" title="{}: {}"></span>',
        (
            (status, f"{100 * counts[status] / total:.2f}", status, counts[status])
            for status in BAR_ORDER
            if total and counts.get(status)
        ),
    )
    return format_html(
        '<span class="cx-progress" role="progressbar" aria-valuenow="{}" aria-valuemin="0" aria-valuemax="100" '
        'aria-label="{}">{}</span> <span class="cx-percent">{} %</span>',
        percent,
        label,
        segments,
        percent,
    )
