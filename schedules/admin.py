"""Schedules in the admin: each organization's own, editable, with their runs (the logs)."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from rest_framework import serializers

from blasts.admin import MediaFormField, TypesFormField
from blasts.serializers import check_content
from connext.admin import OrgScopedAdmin
from connext.errors import ApplicationError
from logs.models import Message
from schedules import services
from schedules.models import Schedule

# The API's names (in a service's message) -> the form's fields.
FORM_FIELDS = {"startDate": "start_date", "startTime": "start_time", "every": "every", "days": "days",
               "active": "active"}  # fmt: skip


class RunInline(admin.TabularInline):
    """The schedule's runs, newest first: each a message of the logs."""

    model = Message
    fk_name = "schedule"
    fields = ["log", "created_at", "recipients"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "run"
    verbose_name_plural = "runs (newest first)"

    @admin.display(description="log")
    def log(self, message: Message) -> str:
        url = reverse("admin:logs_message_change", args=[message.pk])
        return format_html('<a href="{}">message {}</a>', url, message.pk)

    def has_change_permission(self, request, obj=None):
        return False


class ScheduleForm(forms.ModelForm):
    """Places `next` as the API does (schedules.services.place); its refusals become form errors."""

    types = TypesFormField()
    media = MediaFormField()

    class Meta:
        model = Schedule
        fields = [
            "title", "types", "groups", "message", "subject", "media", "ivr", "shorten_links", "start_date",
            "start_time", "timezone", "frequency", "every", "days", "remaining", "active",
        ]  # fmt: skip

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        before = self.initial if self.instance.pk else {}
        before = {name: before.get(name) for name in (*services.RULE_FIELDS, "active", "remaining")}
        if not self.instance.pk:
            before["active"] = False  # new: placed from its start
        content = {name: getattr(self.instance, name) for name in ("types", "message", "subject", "media", "ivr")}
        try:
            check_content(content)
        except serializers.ValidationError as error:
            for field, messages in error.detail.items():
                self.add_error(field if field in self.fields else None, messages)
            return
        try:
            services.place(self.instance, before, resume=self.cleaned_data.get("active") and not before["active"])
        except ApplicationError as error:
            self.add_error(FORM_FIELDS.get(error.field), str(error.detail))


@admin.register(Schedule)
class ScheduleAdmin(OrgScopedAdmin):
    form = ScheduleForm
    list_display = ["title", "types_shown", "frequency", "every", "active", "next", "remaining", "runs_link"]
    list_filter = ["active", "frequency"]
    search_fields = ["title", "message"]
    filter_horizontal = ["groups"]
    readonly_fields = ["next", "last_fired_at"]
    inlines = [RunInline]

    @admin.display(description="types")
    def types_shown(self, schedule: Schedule) -> str:
        return ", ".join(schedule.types)

    @admin.display(description="runs")
    def runs_link(self, schedule: Schedule) -> str:
        url = reverse("admin:logs_message_changelist") + f"?schedule__id__exact={schedule.pk}"
        return format_html('<a href="{}">runs</a>', url)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if request.user.organization_id:
            initial.setdefault("timezone", request.user.organization.timezone)
        return initial

    def save_model(self, request, obj, form, change):
        if obj.user_id is None:
            obj.user = request.user
        super().save_model(request, obj, form, change)
