"""Admin screens for subscribers and the blocklist, scoped to the admin's organization.

Phones and emails typed here are stored as the API stores them (E.164 in the organization's
region, lower-case emails). Blocklist entries are added by hand (`manual`) and never edited;
an organization's admin can remove only manual ones: STOP replies, bounces and complaints
are the recipient's decision (superusers may still remove them).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from rest_framework import serializers

from connext.admin import OrgScopedAdmin, ReadOnlyAdmin
from connext.errors import ApplicationError, PayloadTooLarge
from groups.models import Group
from subscribers.addresses import InvalidAddress, normalize_email, normalize_phone, phone_digits
from subscribers.export_views import csv_chunks, csv_rows
from subscribers.import_views import ImportUploadSerializer, import_start
from subscribers.models import BlocklistEntry, ImportJob, Subscriber
from subscribers.selectors import subscriber_search
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
        # Members by the group's id, not through a join: a join walked every membership of the organization.
        return queryset.filter(
            pk__in=Subscriber.groups.through.objects.filter(group_id=int(value)).values("subscriber_id")
        )


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
    show_full_result_count = False  # a second COUNT(*) of the organization's subscribers per page

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
        if search_term.strip() and request.user.organization_id:
            # The API's keyword (subscribers.selectors): the trigram index finds the matches, where
            # the admin's own search read every subscriber of the organization (~0.3 s for 100,000).
            found = subscriber_search(request.user.organization, keyword=search_term)
            return queryset.filter(pk__in=found.order_by().values("pk")), False
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

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="subscribers_subscriber_import"),
            path("export/", view(self.export_view), name="subscribers_subscriber_export"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and request.user.organization_id:
            query = changelist.get_query_string(remove=[ORDER_VAR, "p"])
            response.context_data["export_url"] = reverse("admin:subscribers_subscriber_export") + query
            if _may_import(request):
                response.context_data["import_url"] = reverse("admin:subscribers_subscriber_import")
        return response

    def import_view(self, request):
        """`POST /subscribers/imports` in a form: the same checks and job, then the job's page."""
        if not _may_import(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "Import subscribers", "opts": self.model._meta}
        if not request.user.organization_id:
            context["no_organization"] = True
            return TemplateResponse(request, "admin/subscribers/subscriber/import.html", context)
        groups = _admin_groups(request)
        posted = request.method == "POST"
        form = ImportForm(request.POST if posted else None, request.FILES if posted else None, groups=groups)
        if posted and form.is_valid():
            serializer = ImportUploadSerializer(data=form.wire())
            try:
                serializer.is_valid(raise_exception=True)
                job = import_start(user=request.user, data=serializer.validated_data, multipart=True)
            except serializers.ValidationError as error:
                for name, problems in error.detail.items():
                    field = IMPORT_FORM_FIELDS.get(name, name)
                    form.add_error(field if field in form.fields else None, [str(p) for p in problems])
            except (ApplicationError, PayloadTooLarge) as error:
                field = getattr(error, "field", None)
                form.add_error(field if field in form.fields else None, str(error.detail))
            else:
                if job.payload:
                    rows = expected_rows(bytes(job.payload), job.source_format)
                    cache.set(_expected_rows_key(job.pk), rows, EXPECTED_ROWS_SECONDS)
                self.message_user(request, f"Import {job.pk} queued.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:subscribers_importjob_change", args=[job.pk]))
        context["form"] = form
        return TemplateResponse(request, "admin/subscribers/subscriber/import.html", context)

    def export_view(self, request):
        """The subscribers the list shows (its search and filters) as the CSV of `GET /subscribers/export`."""
        if not self.has_view_permission(request) or not request.user.organization_id:
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        shown = changelist.get_queryset(request).values("pk")
        rows = subscriber_search(request.user.organization).filter(pk__in=shown)
        response = StreamingHttpResponse(csv_chunks(csv_rows(rows)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="subscribers.csv"'
        return response


def _may_import(request) -> bool:
    return request.user.has_perms(["subscribers.add_subscriber", "subscribers.change_subscriber"])


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
    list_per_page = 50
    show_full_result_count = False

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


# --- Imports and exports -------------------------------------------------------------------

# Seconds the expected row count of an uploaded import is remembered for its progress bar.
EXPECTED_ROWS_SECONDS = 7 * 24 * 3600
# The API's field names (in the serializer's errors) -> the import form's.
IMPORT_FORM_FIELDS = {"updateExisting": "update_existing"}


def _expected_rows_key(job_id: int) -> str:
    return f"subscribers:import-expected-rows:{job_id}"


def expected_rows(payload: bytes, source_format: str) -> int:
    """About how many rows an uploaded file holds (lines after the header, or JSON objects),
    for a progress bar: a quoted newline or a brace in a value makes it an estimate."""
    if source_format == "json":
        return max(payload.count(b"{"), 1)
    lines = payload.count(b"\n") + (0 if payload.endswith(b"\n") else 1)
    return max(lines - 1, 1)


def import_progress(job: ImportJob) -> tuple[int | None, int]:
    """(percent or None when unknown, expected rows or 0) of a job, from its counters."""
    if job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        return 100, job.total
    expected = cache.get(_expected_rows_key(job.pk)) or 0
    if not expected:
        return None, 0
    return min(99, int(100 * job.total / expected)), expected


class ImportForm(forms.Form):
    """The fields of `POST /subscribers/imports` (multipart); checked by the API's serializer."""

    file = forms.FileField(
        required=False, help_text="CSV with a header row (first, last, phone, email, ...) or a JSON array of objects."
    )
    url = forms.CharField(required=False, max_length=2048, label="Or a URL", help_text="An http(s) URL of such a file.")
    groups = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Every imported subscriber joins them.",
    )
    update_existing = forms.BooleanField(
        required=False, initial=True, label="Update existing",
        help_text="A row matching a subscriber by phone or email updates it; unticked, such rows are skipped.",
    )  # fmt: skip

    def __init__(self, *args, groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = [(g.number, f"{g.number} · {g.name}") for g in groups]

    def wire(self) -> dict:
        data = self.cleaned_data
        body = {"groups": data["groups"], "updateExisting": int(data["update_existing"])}
        if data["file"] is not None:
            body["file"] = data["file"]
        if data["url"].strip():
            body["url"] = data["url"]
        return body


class ImportJobAdmin(ReadOnlyAdmin):
    """Import jobs: progress while they run (the page refreshes itself), then the rows refused, by line."""

    list_display = ["id", "created_at", "source_shown", "status", "progress", "total", "created", "updated",
                    "skipped", "created_by"]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["created_by"]
    fields = ["status", "source_shown", "group_numbers_shown", "update_existing", "created_by", "created_at",
              "finished_at", "total", "created", "updated", "skipped", "failure"]  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload")

    def has_add_permission(self, request):
        return _may_import(request)  # "Add" is the import form

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:subscribers_subscriber_import"))

    @admin.display(description="source")
    def source_shown(self, job: ImportJob) -> str:
        return job.source or f"{job.source_format or 'json'} body"

    @admin.display(description="groups")
    def group_numbers_shown(self, job: ImportJob) -> str:
        return ", ".join(map(str, job.group_numbers)) or "-"

    @admin.display(description="progress")
    def progress(self, job: ImportJob) -> str:
        percent, _ = import_progress(job)
        if percent is None:
            return format_html(
                '<span class="cx-progress cx-indeterminate"></span> <span class="cx-percent">{} rows</span>', job.total
            )
        bar = "cx-failed" if job.status == ImportJob.Status.FAILED else "cx-delivered"
        return format_html(
            '<span class="cx-progress" role="progressbar" aria-valuenow="{}" aria-valuemin="0" aria-valuemax="100" '
            'aria-label="import {} progress"><span class="cx-bar {}" style="width:{}%"></span></span> '
            '<span class="cx-percent">{} %</span>',
            percent, job.pk, bar, percent, percent,
        )  # fmt: skip

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if job is not None:
            _, expected = import_progress(job)
            running = job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
            context.update(
                title=f"Import {job.pk}",
                job=job,
                progress_html=self.progress(job),
                expected=expected,
                running=running,
                refresh_seconds=2 if running else None,
                subscribers_url=reverse("admin:subscribers_subscriber_changelist"),
            )
        return super().change_view(request, object_id, form_url, context)


admin.site.register(ImportJob, ImportJobAdmin)
