from django.conf import settings
from django.db import models
from django.utils import timezone


class PairingCode(models.Model):
    """A one-time code (10 minutes) that a phone trades for a device token at registration."""

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="pairing_codes")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    code = models.CharField(max_length=16, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code

    @property
    def usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()
