from django.contrib import admin

from connext.admin import OrgScopedAdmin
from segments.models import Segment


@admin.register(Segment)
class SegmentAdmin(OrgScopedAdmin):
    """Segments as the API made them: shown, not edited here (the API checks their groups and
    attributes against the organization's)."""

    list_display = ["name", "group_numbers", "where", "keyword", "updated_at"]
    search_fields = ["name"]
    readonly_fields = ["name", "group_numbers", "where", "keyword", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
