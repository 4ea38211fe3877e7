"""Writes of sub-accounts and of an organization's own settings (sender identity, help text)."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import credits
from apikeys.services import api_key_create
from connext import roles
from connext.errors import ApplicationError
from connext.models import Organization, User
from connext.services import user_create
from subscribers.addresses import InvalidAddress, normalize_phone

# Serializer field -> model field, for naming a model validation error's field.
WIRE_NAMES = {"default_region": "region", "credit_mode": "creditMode", "monthly_cap": "monthlyCap",
              "help_text": "helpText", "sender_phone": "senderPhone", "sender_email": "senderEmail",
              "messaging_service_sid": "messagingServiceSid", "sender_name": "senderName"}  # fmt: skip


def _full_clean(org: Organization) -> None:
    try:
        org.full_clean(exclude=["parent"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ApplicationError(" ".join(messages), field=WIRE_NAMES.get(field, field)) from None


@transaction.atomic
def subaccount_create(*, parent: Organization, admin_email: str, **fields) -> tuple[Organization, User, str]:
    """A child organization, billed from now, with its first org admin and that admin's first
    API key. Returns (organization, admin, the key's plaintext: shown once)."""
    if parent.parent_id is not None:
        raise ApplicationError("A sub-account cannot have sub-accounts of its own.", status_code=403)
    if User.objects.filter(email__iexact=admin_email).exists():
        raise ApplicationError("A user with this email already exists.", field="adminEmail")
    org = Organization(parent=parent, billed=True, **fields)
    _full_clean(org)
    org.save()
    admin = user_create(organization=org, email=admin_email, role=roles.ORG_ADMIN)
    _, plaintext = api_key_create(user=admin, name="first key")
    return org, admin, plaintext


@transaction.atomic
def subaccount_update(*, subaccount: Organization, **fields) -> Organization:
    for name, value in fields.items():
        setattr(subaccount, name, value)
    _full_clean(subaccount)
    subaccount.save()
    return subaccount


def subaccount_transfer(*, parent: Organization, subaccount: Organization, amount: Decimal, note: str = ""):
    """Credits from parent to child (negative: back), both ledger entries in one transaction."""
    try:
        return credits.transfer(parent=parent, child=subaccount, amount=amount, note=note)
    except credits.InsufficientCredits as exc:
        whose = "your balance" if amount > 0 else "the sub-account's balance"
        raise ApplicationError(
            f"Cannot move {abs(amount):.4f}: {whose} is {exc.balance:.4f}.", field="amount"
        ) from None


@transaction.atomic
def organization_update(*, organization: Organization, **fields) -> Organization:
    """An org admin's settings: help text and sender identity. A sender number is stored E.164
    and belongs to one organization only (inbound texts are attributed by it), never the
    platform's own."""
    phone = fields.get("sender_phone")
    if phone:
        try:
            phone = fields["sender_phone"] = normalize_phone(phone, organization.default_region)
        except InvalidAddress as exc:
            raise ApplicationError(str(exc), field="senderPhone") from None
        if phone == settings.TWILIO_FROM_NUMBER or (
            Organization.objects.filter(sender_phone=phone).exclude(pk=organization.pk).exists()
        ):
            raise ApplicationError("This number is already in use.", field="senderPhone")
    sid = fields.get("messaging_service_sid")
    if sid and Organization.objects.filter(messaging_service_sid=sid).exclude(pk=organization.pk).exists():
        raise ApplicationError("This Messaging Service is already in use.", field="messagingServiceSid")
    for name, value in fields.items():
        setattr(organization, name, value)
    _full_clean(organization)
    organization.save()
    return organization
