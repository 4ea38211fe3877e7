import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

KEY_PREFIX = "cnxt_"


def hash_key(plaintext: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(plaintext.encode()).hexdigest()


class APIKey(models.Model):
    """A bearer key acting as its user; only the SHA-256 of the key is stored."""

    class Scope(models.TextChoices):
        FULL = "full", "Full (acts with the user's permissions)"
        SEND = "send", "Send only (can never read)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=4, choices=Scope.choices, default=Scope.FULL)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def prefix(self) -> str:
        """How a key is identified in listings: the first 8 characters of its hash."""
        return self.key_hash[:8]

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()
