from django import forms
from django.contrib import admin

from blasts.models import ConsoleSend, Template
from blasts.serializers import TYPES
from connext.admin import OrgScopedAdmin, ReadOnlyAdmin


class TypesFormField(forms.MultipleChoiceField):
    """A blast's types as boxes to tick (sms, email ...), stored as the list the API takes."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "sms (mms with media), mms, voice (text-to-speech), audio (a recording), email.")
        super().__init__(choices=[(t, t) for t in TYPES], **kwargs)


class TemplateForm(forms.ModelForm):
    types = TypesFormField()

    class Meta:
        model = Template
        fields = ["title", "types", "message", "subject", "voice_fallback", "groups", "dnc", "files",
                  "shorten_links", "ivr"]  # fmt: skip


@admin.register(Template)
class TemplateAdmin(OrgScopedAdmin):
    form = TemplateForm
    list_display = ["title", "types_shown", "shorten_links", "ivr", "updated_at"]
    search_fields = ["title", "message", "subject"]
    filter_horizontal = ["groups", "dnc"]

    @admin.display(description="types")
    def types_shown(self, template: Template) -> str:
        return ", ".join(template.types)


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
