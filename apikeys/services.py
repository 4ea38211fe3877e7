"""Writes for API keys. The plaintext exists only in the return value of `api_key_create`."""

import datetime
import secrets

from django.db import transaction
from django.utils import timezone

from apikeys.models import KEY_PREFIX, APIKey, hash_key
from connext.models import User

# How stale `last_used_at` may get before a request writes it again: one write
# per key per minute instead of one per request.
LAST_USED_RESOLUTION = datetime.timedelta(seconds=60)


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def api_key_create(
    *, user: User, name: str, scope: str = APIKey.Scope.FULL, expires_at: datetime.datetime | None = None
) -> tuple[APIKey, str]:
    """Create a key for `user`; returns the row and the plaintext, which is never stored."""
    if user.organization_id is None:
        raise ValueError("API keys belong to an organization: this user has none.")
    plaintext = generate_key()
    key = APIKey(
        user=user,
        organization_id=user.organization_id,
        name=name,
        scope=scope,
        expires_at=expires_at,
        key_hash=hash_key(plaintext),
    )
    key.full_clean()
    key.save()
    return key, plaintext


def api_key_touch(*, key: APIKey) -> None:
    """Record use, at most once per LAST_USED_RESOLUTION (safe to call on every request)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        APIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
