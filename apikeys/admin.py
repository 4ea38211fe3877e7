from django.contrib import admin, messages
from django.utils.html import format_html

from apikeys.models import APIKey
from apikeys.services import api_key_create
from connext.admin import OrgScopedAdmin


@admin.register(APIKey)
class APIKeyAdmin(OrgScopedAdmin):
    """Settings -> API Keys: create (plaintext shown once), deactivate, reactivate, delete."""

    list_display = ["name", "prefix", "user", "scope", "active", "expires_at", "last_used_at", "created_at"]
    list_filter = ["active", "scope"]
    search_fields = ["name", "user__email", "key_hash"]
    actions = ["deactivate", "reactivate"]
    readonly_fields = ["prefix", "last_used_at", "created_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user", "scope", "expires_at"]
        return ["name", "prefix", "user", "scope", "active", "expires_at", "last_used_at", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # A key's owner and scope are fixed at creation: make a new key instead.
        return [*self.readonly_fields, "user", "scope"] if obj else self.readonly_fields

    def get_queryset(self, request):
        # A superuser's keys are the superuser's: an organization's admin neither sees nor changes them.
        keys = super().get_queryset(request)
        return keys if request.user.is_superuser else keys.filter(user__is_superuser=False)

    @admin.display(description="Key (hash prefix)")
    def prefix(self, obj):
        return obj.prefix

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and field is not None:
            # A key belongs to its user's organization (api_key_create): a superuser
            # without one is no choice, rather than an error after the form is sent.
            field.queryset = field.queryset.filter(organization__isnull=False)
        return field

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plaintext = api_key_create(user=obj.user, name=obj.name, scope=obj.scope, expires_at=obj.expires_at)
        # The admin goes on with `obj` (history entry, redirect): it becomes the row just made.
        for field in APIKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding, obj._state.db = False, key._state.db
        messages.warning(
            request,
            format_html(
                'Copy the API key now, it will not be shown again: <code class="cx-key" id="new-api-key">{}</code> '
                '<button type="button" class="button" data-copy="#new-api-key">Copy</button>',
                plaintext,
            ),
        )

    @admin.action(description="Deactivate selected keys")
    def deactivate(self, request, queryset):
        updated = queryset.update(active=False)
        self.message_user(request, f"Deactivated {updated} key(s).")

    @admin.action(description="Reactivate selected keys")
    def reactivate(self, request, queryset):
        updated = queryset.update(active=True)
        self.message_user(request, f"Reactivated {updated} key(s).")
