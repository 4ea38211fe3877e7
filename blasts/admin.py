from django.contrib import admin

from blasts.models import Template
from connext.admin import OrgScopedAdmin


@admin.register(Template)
class TemplateAdmin(OrgScopedAdmin):
    list_display = ["title", "types", "shorten_links", "ivr", "updated_at"]
    search_fields = ["title", "message", "subject"]
    filter_horizontal = ["groups", "dnc"]
