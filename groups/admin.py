from django.contrib import admin

from connext.admin import OrgScopedAdmin
from groups.models import Group


@admin.register(Group)
class GroupAdmin(OrgScopedAdmin):
    list_display = ["number", "name", "private", "created_at"]
    search_fields = ["name"]
    ordering = ["number"]
