"""Tenancy: an `Organization` owns everything; every `User` belongs to one."""

import zoneinfo

import phonenumbers
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone {value!r}.")


def validate_region(value: str) -> None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"Unknown phone region {value!r} (use an ISO 3166 code such as US).")


def validate_routes(value) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError('Routes map a kind of send to a provider\'s name, e.g. {"sms": "console"}.')


def validate_messaging_service_sid(value: str) -> None:
    if value and not (len(value) == 34 and value.startswith("MG") and value[2:].isalnum()):
        raise ValidationError("A Messaging Service SID is MG followed by 32 letters and digits.")


class Organization(models.Model):
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    default_region = models.CharField(
        max_length=2, default="US", validators=[validate_region], help_text="Region for national phone numbers."
    )
    rate_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="API requests per minute per key; empty uses the server default."
    )
    help_text = models.CharField(max_length=320, blank=True, help_text="Answer to an inbound HELP text message.")
    # Routing (blasts.channels.channel_for): which provider sends each kind for this organization.
    routes = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_routes],
        help_text='Provider per kind of send, e.g. {"sms": "console"}; a kind not named, or a provider not set '
        "up, goes to the platform default.",
    )
    sender_phone = models.CharField(
        max_length=32, blank=True, help_text="Own from-number (E.164) for texts and calls; empty: the platform's."
    )
    sender_email = models.EmailField(blank=True, help_text="Own from-address for email; empty: the platform's.")
    # Sender identity beyond 0002's: texts may go through a Twilio Messaging Service instead of
    # one number (calls still need `sender_phone`); emails carry a from-name.
    messaging_service_sid = models.CharField(
        max_length=34,
        blank=True,
        validators=[validate_messaging_service_sid],
        help_text="Own Twilio Messaging Service (MG...) for texts; takes precedence over the number for SMS/MMS.",
    )
    sender_name = models.CharField(max_length=100, blank=True, help_text="From-name of emails; empty: none.")
    # Sub-accounts and billing (accounts app). A child organization has a parent; a parent's org
    # admin manages its children's credits and reads their usage, never their data.
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children",
        help_text="The organization this one is a sub-account of.",
    )  # fmt: skip
    active = models.BooleanField(default=True, help_text="Off: suspended, nothing is sent and no blast is accepted.")
    billed = models.BooleanField(
        default=False,
        help_text="Sends are paid from credits (a blast the balance cannot pay is refused). Sub-accounts are "
        "billed from their creation; a top-level organization once an operator turns this on.",
    )
    credit_mode = models.CharField(
        max_length=6,
        choices=[("own", "Own balance"), ("parent", "Parent's balance")],
        default="own",
        help_text="A sub-account pays from its own balance, or draws on its parent's.",
    )
    monthly_cap = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True,
        help_text="Drawing on the parent's balance: at most this much per calendar month (UTC); empty: no cap.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConnextUserManager(UserManager):
    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("username", email)
        return super().create_superuser(email=email, password=password, **extra_fields)


class User(AbstractUser):
    """Logs in with email; belongs to one organization (superusers may have none)."""

    email = models.EmailField(unique=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="users"
    )
    phone = models.CharField(max_length=20, blank=True, help_text="E.164; where test blasts go.")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    objects = ConnextUserManager()

    def __str__(self) -> str:
        return self.email


class IdempotencyRecord(models.Model):
    """The first response to a write sent with an `Idempotency-Key` header."""

    # The hash of the API key that sent it (no foreign key: connext sits below apikeys;
    # records outlive a deleted key by at most 24 h).
    owner = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    completed = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.BinaryField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_per_api_key")]

    def __str__(self) -> str:
        return self.key
