"""Writes for devices and pairing."""

import datetime
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from connext.models import User
from devices.models import PairingCode

PAIRING_CODE_TTL = datetime.timedelta(minutes=10)
# No 0/O or 1/I/L: a code is read off a screen and typed on a phone.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


def pairing_code_create(*, user: User) -> PairingCode:
    """A one-time pairing code for the user's organization, valid for 10 minutes."""
    for _ in range(5):
        try:
            with transaction.atomic():
                return PairingCode.objects.create(
                    organization_id=user.organization_id,
                    created_by=user,
                    code=_new_code(),
                    expires_at=timezone.now() + PAIRING_CODE_TTL,
                )
        except IntegrityError:  # 31^8 codes: a clash is rare, never twice in a row in practice
            continue
    raise RuntimeError("Could not generate a unique pairing code.")
