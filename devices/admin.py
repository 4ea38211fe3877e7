from django.contrib import admin

from connext.admin import OrgScopedAdmin
from devices.models import PairingCode
from devices.services import pairing_code_create


@admin.register(PairingCode)
class PairingCodeAdmin(OrgScopedAdmin):
    """The "Add Device" screen: saving issues a fresh code, valid 10 minutes."""

    list_display = ["code", "created_by", "expires_at", "used_at"]
    fields = []
    readonly_fields = ["code", "expires_at", "used_at"]

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
