from django.contrib import admin

from blasts.models import ConsoleSend, Template
from connext.admin import OrgScopedAdmin, ReadOnlyAdmin


@admin.register(Template)
class TemplateAdmin(OrgScopedAdmin):
    list_display = ["title", "types", "shorten_links", "ivr", "updated_at"]
    search_fields = ["title", "message", "subject"]
    filter_horizontal = ["groups", "dnc"]


@admin.register(ConsoleSend)
class ConsoleSendAdmin(ReadOnlyAdmin):
    """The console channel's outbox: what would have gone to phones and inboxes, as sent."""

    org_field = "delivery__message__organization"
    list_display = ["id", "created_at", "channel", "to", "subject", "short_body"]
    list_filter = ["channel"]
    search_fields = ["to", "subject", "body"]
    date_hierarchy = "created_at"

    @admin.display(description="body")
    def short_body(self, send: ConsoleSend) -> str:
        return send.body[:80]
