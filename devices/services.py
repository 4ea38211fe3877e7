"""Writes for devices and pairing: codes, registration, heartbeats, settings, removal."""

import datetime
import hashlib
import re
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from connext.errors import ApplicationError
from connext.models import User
from devices import queue
from devices.models import Device, PairingCode
from subscribers.addresses import InvalidAddress, normalize_phone

PAIRING_CODE_TTL = datetime.timedelta(minutes=10)
# No 0/O or 1/I/L: a code is read off a screen and typed on a phone.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TOKEN_PREFIX = "cnxd_"  # never an API key's `cnxt_`: the two credentials cannot be mistaken


E164_SHAPED = re.compile(r"\+[1-9][0-9]{7,14}")


def gateway_phone(raw: str, region: str) -> str:
    """A number as the gateway takes it: E.164 of what phonenumbers accepts, else any E.164-shaped
    number as given (a phone texts whatever it is told, test ranges such as +1555... included)."""
    try:
        return normalize_phone(raw, region)
    except InvalidAddress:
        text = raw.strip()
        if E164_SHAPED.fullmatch(text):
            return text
        raise


def hash_token(token: str) -> str:
    # 256 random bits: a fast hash is enough, nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


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


def device_register(*, code: str, name: str, phone_number: str, model: str = "") -> tuple[Device, str]:
    """Trade a usable pairing code for a new device of its organization and the device's token
    (returned once, stored hashed). The code is spent in the same transaction: two phones
    racing with one code get one device between them."""
    now = timezone.now()
    with transaction.atomic():
        pairing = (
            PairingCode.objects.select_for_update()
            .select_related("organization")
            .filter(code=code.strip().upper(), used_at=None, expires_at__gt=now)
            .first()
        )
        if pairing is None:
            raise ApplicationError("code: Unknown, expired or already used pairing code.")
        try:
            phone = gateway_phone(phone_number, pairing.organization.default_region)
        except InvalidAddress as exc:
            raise ApplicationError(str(exc), field="phone_number") from None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        device = Device.objects.create(
            organization=pairing.organization,
            name=name,
            model=model,
            phone_number=phone,
            token_hash=hash_token(token),
        )
        pairing.used_at = now
        pairing.save(update_fields=["used_at"])
    return device, token


def device_for_token(token: str) -> Device | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    return Device.objects.select_related("organization").filter(token_hash=hash_token(token)).first()


HEARTBEAT_FIELDS = ("battery", "signal", "android_version", "app_version", "model")


def device_heartbeat(*, device: Device, data: dict) -> Device:
    """A phone's presence signal: it is online for the next minute; what it says of itself is kept."""
    device.last_seen_at = timezone.now()
    for name in HEARTBEAT_FIELDS:
        if name in data:
            setattr(device, name, data[name])
    device.save(update_fields=["last_seen_at", *(name for name in HEARTBEAT_FIELDS if name in data)])
    return device


def device_update(*, device: Device, data: dict) -> Device:
    """Name, limits and `active`. A device set inactive lets its claims go at once."""
    for name, value in data.items():
        setattr(device, name, value)
    device.save(update_fields=list(data))
    if data.get("active") is False:
        queue.let_go(device)
    return device


def device_delete(*, device: Device) -> None:
    """Unpair: the token stops working, and what the phone held goes back to the queue."""
    with transaction.atomic():
        queue.let_go(device)
        device.delete()
