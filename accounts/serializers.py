"""Wire formats of credits, sub-accounts and the organization's own settings. Money goes out as
decimal strings with 4 places ("12.5000"): exact in every JSON reader."""

import re
import zoneinfo
from decimal import Decimal

import phonenumbers
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connext.fields import ConnextSerializer, IntBooleanField, SingleLineCharField, StrictCharField
from subscribers.addresses import InvalidAddress, normalize_email

TIMEZONES = sorted(zoneinfo.available_timezones())
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
CREDIT_MODES = ["own", "parent"]
MAX_AMOUNT = Decimal("100000000000000")  # 10^14: what numeric(18, 4) holds


MESSAGING_SERVICE = r"^(MG[0-9A-Za-z]{32})?$"


@extend_schema_field({"type": "string", "pattern": MESSAGING_SERVICE, "maxLength": 34})
class MessagingServiceField(serializers.Field):
    """A Messaging Service SID, or "" for none: one pattern says both (a CharField's blank
    handling would give the schema a oneOf that "" matches twice, or a minLength)."""

    default_error_messages = {"sid": "Must be MG followed by 32 letters and digits, or empty."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(MESSAGING_SERVICE, data):
            self.fail("sid")
        return data

    def to_representation(self, value) -> str:
        return value or ""


class EmailAddressField(StrictCharField):
    """An email address as subscribers take them (lower-cased, checked as Django's validator does)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value and self.allow_blank:
            return value
        try:
            return normalize_email(value)
        except InvalidAddress as exc:
            raise serializers.ValidationError(str(exc)) from None


def money_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=4, coerce_to_string=True, **kwargs)


class CreditsSerializer(serializers.Serializer):
    balance = money_field(help_text="The organization's own balance.")
    currency = serializers.CharField()
    mode = serializers.ChoiceField(choices=CREDIT_MODES, help_text="own: sends are paid from `balance`; "
                                   "parent: a sub-account drawing on its parent's balance.")  # fmt: skip
    billed = IntBooleanField(help_text="0: sends are not checked nor charged (billing is off).")
    available = money_field(allow_null=True, help_text="What can be spent now (the payer's balance, within the "
                            "monthly cap); null when not billed.")  # fmt: skip
    monthlyCap = money_field(allow_null=True, help_text="Drawing on the parent's balance: the most per month.")
    spentThisMonth = money_field(help_text="Drawn on the parent's balance since the 1st (UTC).")


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["topup", "debit", "refund", "transfer", "adjustment"])
    amount = money_field(help_text="Signed: positive credits the balance, negative debits it.")
    balance = money_field(help_text="The balance right after this entry (of the organization that paid).")
    logId = serializers.IntegerField(source="message_id", allow_null=True, help_text="The blast (GET /logs/{id}).")
    organizationId = serializers.IntegerField(source="organization_id", help_text="Whose balance moved.")
    createdAt = serializers.DateTimeField(source="created_at")
    note = serializers.CharField()


class TransferSerializer(ConnextSerializer):
    amount = serializers.DecimalField(
        max_digits=18, decimal_places=4, min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT,
        help_text="Credits moved from your balance to the sub-account's; negative takes them back.",
    )  # fmt: skip
    note = StrictCharField(max_length=255, required=False, allow_blank=True)

    def validate_amount(self, value: Decimal) -> Decimal:
        if not value:
            raise serializers.ValidationError("Must not be zero.")
        return value


class TransferResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    amount = money_field()
    balance = money_field(help_text="The sub-account's balance after the transfer.")
    parentBalance = money_field(help_text="Your balance after the transfer.")


class SubaccountSerializer(ConnextSerializer):
    """A sub-account as its parent sees it: settings and credits, never its data."""

    id = serializers.IntegerField(read_only=True)
    name = SingleLineCharField(max_length=200)
    timezone = serializers.ChoiceField(choices=TIMEZONES, required=False, help_text="IANA time zone (default UTC).")
    region = serializers.ChoiceField(
        choices=REGIONS, source="default_region", required=False, help_text="Phone region (default US)."
    )
    active = IntBooleanField(required=False, help_text="0 suspends the sub-account: it cannot send.")
    creditMode = serializers.ChoiceField(choices=CREDIT_MODES, source="credit_mode", required=False)
    monthlyCap = serializers.DecimalField(
        max_digits=18, decimal_places=4, min_value=Decimal(0), max_value=MAX_AMOUNT, source="monthly_cap",
        coerce_to_string=True,
        required=False, allow_null=True, help_text="With creditMode parent: the most it may draw per month.",
    )  # fmt: skip
    balance = money_field(read_only=True, help_text="Its own balance.")
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)


class SubaccountCreateSerializer(SubaccountSerializer):
    adminEmail = EmailAddressField(max_length=150, help_text="Its first org admin's email (their login).")


class CreatedSubaccountSerializer(SubaccountSerializer):
    adminEmail = serializers.EmailField()
    apiKey = serializers.CharField(help_text="The first API key of its admin (`cnxt_...`): shown here only.")


class OrganizationSerializer(ConnextSerializer):
    """The caller's organization; org admins set its help text and sender identity."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    timezone = serializers.CharField(read_only=True)
    region = serializers.CharField(source="default_region", read_only=True)
    helpText = StrictCharField(source="help_text", max_length=320, required=False, allow_blank=True,
                               help_text="The answer to an inbound HELP text.")  # fmt: skip
    senderPhone = StrictCharField(
        source="sender_phone", max_length=32, required=False, allow_blank=True,
        help_text="Own Twilio number for texts and calls (E.164 or national); empty: the platform's.",
    )  # fmt: skip
    messagingServiceSid = MessagingServiceField(
        source="messaging_service_sid", required=False,
        help_text="Own Twilio Messaging Service (MG + 32 letters/digits) for texts; empty: none.",
    )  # fmt: skip
    senderEmail = EmailAddressField(source="sender_email", max_length=254, required=False, allow_blank=True,
                                         help_text="Own SendGrid from-address; empty: the platform's.")  # fmt: skip
    senderName = StrictCharField(source="sender_name", max_length=100, required=False, allow_blank=True,
                                 help_text="From-name of emails.")  # fmt: skip
    parentId = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)
    billed = IntBooleanField(read_only=True)
    active = IntBooleanField(read_only=True)
