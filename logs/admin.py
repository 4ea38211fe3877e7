"""Sends in the admin: read-only. A message links to its deliveries, filterable by status."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from connext.admin import ReadOnlyAdmin
from logs.models import Delivery, Message


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "user", "types", "short_text", "recipients", "deliveries_link"]
    list_filter = ["test", "created_at"]
    search_fields = ["message", "subject", "user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = ["deliveries_link"]

    @admin.display(description="message")
    def short_text(self, message: Message) -> str:
        return message.message[:60]

    @admin.display(description="deliveries")
    def deliveries_link(self, message: Message) -> str:
        url = reverse("admin:logs_delivery_changelist") + f"?message__id__exact={message.pk}"
        return format_html('<a href="{}">{} deliveries</a>', url, message.recipients)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    org_field = "message__organization"
    list_display = ["id", "message_id", "channel", "recipient", "status", "error_code", "sent_at", "delivered_at",
                    "clicks"]  # fmt: skip
    list_filter = ["status", "channel"]
    search_fields = ["recipient", "provider_id"]
    # The table grows to millions of rows: no COUNT(*) of all of it per page.
    show_full_result_count = False
