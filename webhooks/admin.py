"""Webhook endpoints in the admin (edit url, events, active; the secret never shown) and their
deliveries (read-only, filterable by status), each org-scoped."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from connext.admin import OrgScopedAdmin, ReadOnlyAdmin
from subscribers.fetch import UnsafeURL, check_url
from webhooks import services, subscriptions
from webhooks.models import EVENT_TYPES, Endpoint, WebhookDelivery
from webhooks.signing import new_secret


class EndpointForm(forms.ModelForm):
    """The API's checks of a URL and its events, in the admin too."""

    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in EVENT_TYPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Endpoint
        fields = ["url", "events", "active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            check_url(url)
        except UnsafeURL as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def clean_events(self) -> list:
        events = self.cleaned_data["events"]
        if not isinstance(events, list) or not events or any(e not in EVENT_TYPES for e in events):
            raise forms.ValidationError(f"A list of event types among: {', '.join(EVENT_TYPES)}.")
        return events


@admin.register(Endpoint)
class EndpointAdmin(OrgScopedAdmin):
    form = EndpointForm
    list_display = ["id", "url", "active", "disabled_reason", "created_at", "deliveries_link"]
    list_filter = ["active"]
    search_fields = ["url"]
    fields = ["url", "events", "active", "disabled_reason", "failing_since", "created_at", "deliveries_link"]
    readonly_fields = ["disabled_reason", "failing_since", "created_at", "deliveries_link"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at=None)

    @admin.display(description="deliveries")
    def deliveries_link(self, endpoint: Endpoint) -> str:
        if endpoint.pk is None:
            return "-"
        url = reverse("admin:webhooks_webhookdelivery_changelist") + f"?endpoint__id__exact={endpoint.pk}"
        return format_html('<a href="{}">deliveries</a>', url)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.secret = new_secret()  # the API's rotate-secret shows a secret; the admin never does
        if change and "active" in form.changed_data:
            obj.disabled_reason, obj.failing_since = "", None
        super().save_model(request, obj, form, change)
        subscriptions.changed()

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    org_field = "endpoint__organization"
    list_display = ["id", "endpoint", "event_type", "event_id", "status", "status_code", "attempts",
                    "next_attempt_at", "created_at"]  # fmt: skip
    list_filter = ["status", "event_type"]
    search_fields = ["event_id"]
    list_select_related = ["endpoint"]
    show_full_result_count = False
