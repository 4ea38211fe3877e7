from django.contrib import admin, messages

from apikeys.models import APIKey, hash_key
from apikeys.services import generate_key
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

    @admin.display(description="Key (hash prefix)")
    def prefix(self, obj):
        return obj.prefix

    def save_model(self, request, obj, form, change):
        if not change:
            plaintext = generate_key()
            obj.key_hash = hash_key(plaintext)
            obj.organization_id = obj.user.organization_id
            super().save_model(request, obj, form, change)
            messages.warning(request, f"Copy the API key now, it will not be shown again: {plaintext}")
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Deactivate selected keys")
    def deactivate(self, request, queryset):
        updated = queryset.update(active=False)
        self.message_user(request, f"Deactivated {updated} key(s).")

    @admin.action(description="Reactivate selected keys")
    def reactivate(self, request, queryset):
        updated = queryset.update(active=True)
        self.message_user(request, f"Reactivated {updated} key(s).")
