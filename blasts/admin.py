from django import forms
from django.contrib import admin

from blasts.models import ConsoleSend, Template
from blasts.serializers import MAX_MEDIA, TYPES, MediaSerializer
from connext.admin import OrgScopedAdmin, ReadOnlyAdmin


class TypesFormField(forms.MultipleChoiceField):
    """A blast's types as boxes to tick (sms, email ...), stored as the list the API takes."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "sms (mms with media), mms, voice (text-to-speech), audio (a recording), email.")
        super().__init__(choices=[(t, t) for t in TYPES], **kwargs)


class MediaFormField(forms.CharField):
    """Media as lines of `URL [type [name]]`, stored as the API's [{url, type?, name?}] and
    checked by its MediaSerializer (the same messages)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2, "cols": 70}))
        kwargs.setdefault(
            "help_text", "One http(s) URL a line, optionally followed by its MIME type (image/jpeg, audio/mpeg)."
        )
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(
                " ".join(filter(None, [m.get("url", ""), m.get("type", ""), m.get("name", "")])) for m in value
            )
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        items = []
        for line in (super().to_python(value) or "").splitlines():
            url, _, rest = line.strip().partition(" ")
            kind, _, name = rest.strip().partition(" ")
            if url:
                items.append(
                    {"url": url, **({"type": kind} if kind else {}), **({"name": name.strip()} if name.strip() else {})}
                )
        serializer = MediaSerializer(data=items, many=True, max_length=MAX_MEDIA)
        if not serializer.is_valid():
            raise forms.ValidationError(list(_lines(serializer.errors)))
        return items


def _lines(errors, where: str = ""):
    """MediaSerializer(many=True)'s errors ({0: {"url": [...]}}, [{...}], or a list's own) as
    "Line 1: url: ..." messages."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if isinstance(key, int) or str(key).isdigit():
                yield from _lines(value, f"Line {int(key) + 1}: ")
            else:
                yield from _lines(value, f"{where}{key}: " if key != "non_field_errors" else where)
    elif isinstance(errors, list) and any(isinstance(item, (dict, list)) for item in errors):
        for n, item in enumerate(errors):
            if item:
                yield from _lines(item, f"Line {n + 1}: ")
    elif isinstance(errors, list):
        yield where + " ".join(map(str, errors))
    else:
        yield where + str(errors)


class TemplateForm(forms.ModelForm):
    types = TypesFormField()
    files = MediaFormField(label="Media")

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
