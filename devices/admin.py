"""Devices in the admin: the fleet's health (online, battery, sent today, failure rate) with an
"Add device" button, and the pairing codes that button issues."""

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from connext.admin import OrgScopedAdmin
from devices import queue
from devices.models import Device, PairingCode
from devices.selectors import SENT_STATUSES
from devices.services import device_delete, device_update, pairing_code_create


@admin.register(PairingCode)
class PairingCodeAdmin(OrgScopedAdmin):
    """The "Add Device" screen: saving issues a fresh code, valid 10 minutes."""

    list_display = ["code", "created_by", "expires_at", "used_at"]
    # Only read-only fields: nothing to fill in (an empty `fields` would show every field).
    fields = readonly_fields = ["code", "expires_at", "used_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        code = pairing_code_create(user=request.user)
        obj.pk = code.pk
        self.message_user(
            request,
            f"Pairing code {code.code} (expires {code.expires_at:%H:%M} UTC). "
            "Enter it in the Connext app on the phone.",
        )


@admin.register(Device)
class DeviceAdmin(OrgScopedAdmin):
    """Fleet health. Phones are added by pairing (the "Add device" button issues a code)."""

    list_display = ["name", "phone_number", "health", "battery", "signal", "sent_today", "failure_rate",
                    "last_seen_at", "active"]  # fmt: skip
    list_filter = ["active"]
    search_fields = ["name", "phone_number"]
    fields = [
        "name", "model", "phone_number", "active", "daily_cap", "min_delay_seconds", "jitter_seconds",
        "monthly_recipient_cap", "last_seen_at", "battery", "signal", "android_version", "app_version",
    ]  # fmt: skip
    readonly_fields = ["model", "phone_number", "last_seen_at", "battery", "signal", "android_version", "app_version"]
    change_list_template = "admin/devices/device/change_list.html"

    def has_add_permission(self, request):
        return False  # a phone pairs itself with a code: see the "Add device" button

    def changelist_view(self, request, extra_context=None):
        extra = {**(extra_context or {}), "add_device_url": reverse("admin:devices_pairingcode_add")}
        return super().changelist_view(request, extra_context=extra)

    def get_queryset(self, request):
        reported = Q(tasks__delivery__status__in=SENT_STATUSES)
        return (
            super()
            .get_queryset(request)
            .annotate(
                sent_count=Count("tasks", filter=reported),
                failed_count=Count("tasks", filter=Q(tasks__delivery__status="failed")),
            )
        )

    @admin.display(description="status")
    def health(self, device: Device) -> str:
        online = queue.is_online(device)
        return format_html(
            '<b style="color:{}">{}</b>', "green" if online else "gray", "online" if online else "offline"
        )

    @admin.display(description="sent today (segments)")
    def sent_today(self, device: Device) -> int:
        return device.sent_today(timezone.now().date())

    @admin.display(description="failure rate")
    def failure_rate(self, device: Device) -> str:
        done = device.sent_count + device.failed_count
        return f"{100.0 * device.failed_count / done:.1f} %" if done else "-"

    def save_model(self, request, obj, form, change):
        device_update(device=obj, data={name: form.cleaned_data[name] for name in form.changed_data})

    def delete_model(self, request, obj):
        device_delete(device=obj)

    def delete_queryset(self, request, queryset):
        for device in queryset:
            device_delete(device=device)
