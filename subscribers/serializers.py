from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connext.fields import (
    ConnextModelSerializer,
    ConnextSerializer,
    IntBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from subscribers import attributes
from subscribers.addresses import InvalidAddress, normalize_email, normalize_phone
from subscribers.models import BlocklistEntry, Subscriber


class GroupNumbersField(serializers.ListField):
    """Groups by number: `[1, 4]` in, `[1, 4]` out. Reads `group_numbers` when a list page
    has set it (selectors.with_group_numbers), else the related manager."""

    child = StrictIntegerField(min_value=1)

    def get_attribute(self, instance):
        numbers = getattr(instance, "group_numbers", None)
        return numbers if numbers is not None else super().get_attribute(instance)

    def to_representation(self, groups):
        if isinstance(groups, list):
            return groups
        return sorted(group.number for group in groups.all())  # all(): a prefetch's cache


ATTRIBUTE_VALUE = {
    "oneOf": [
        {"type": "string", "maxLength": attributes.MAX_STRING},
        {"type": "number"},
        {"type": "boolean"},
    ]
}


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": attributes.MAX_KEYS,
        "additionalProperties": ATTRIBUTE_VALUE,
        "description": (
            f"Custom attributes: at most {attributes.MAX_KEYS} names matching `[A-Za-z][A-Za-z0-9_]{{0,39}}`, "
            f"each a string (at most {attributes.MAX_STRING} characters; a date as YYYY-MM-DD), a number or "
            f"a boolean; at most {attributes.MAX_BYTES} bytes as JSON. A PATCH merges: the names given are "
            "set, a null removes one."
        ),
        "example": {"COLOR": "BLACK", "COUNTRY": "DE", "VIP": True},
    }
)
class AttributesField(serializers.Field):
    """The `attributes` object, checked by subscribers.attributes; on a partial update a null
    value is kept (it removes that name)."""

    def to_internal_value(self, data):
        partial = bool(getattr(self.root, "partial", False))
        try:
            return attributes.clean(data, allow_null=partial)
        except attributes.InvalidAttributes as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return value or {}


class SubscriberSerializer(ConnextModelSerializer):
    groups = GroupNumbersField(required=False, help_text="Group numbers.")
    whatsapp = IntBooleanField(required=False, help_text="Opted in to WhatsApp messages.")
    attributes = AttributesField(required=False)
    phoneBlocked = IntBooleanField(source="phone_blocked", read_only=True)
    emailBlocked = IntBooleanField(source="email_blocked", read_only=True)

    class Meta:
        model = Subscriber
        fields = [
            "id",
            "first",
            "last",
            "phone",
            "email",
            "address",
            "city",
            "state",
            "zip",
            "enabled",
            "text",
            "whatsapp",
            "groups",
            "attributes",
            "phoneBlocked",
            "emailBlocked",
        ]
        extra_kwargs = {
            "phone": {"help_text": "10-digit national number (org region), formatted, or E.164; stored E.164."},
            "email": {"help_text": "Stored lower-case."},
        }

    @property
    def region(self) -> str:
        return self.context["organization"].default_region

    def validate_phone(self, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return normalize_phone(value, self.region)
        except InvalidAddress as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_email(self, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return normalize_email(value)
        except InvalidAddress as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs):
        if self.instance is None and not attrs.get("phone") and not attrs.get("email"):
            raise serializers.ValidationError({"phone": ["A phone or an email is required."]})
        return attrs


class RecipientSerializer(ConnextSerializer):
    recipient = StrictCharField(help_text="10-digit phone number, E.164 phone or email address.")


class BlocklistEntrySerializer(serializers.ModelSerializer):
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = BlocklistEntry
        fields = ["recipient", "type", "reason", "createdAt"]
        read_only_fields = fields


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": ATTRIBUTE_VALUE,
        "description": (
            'Attribute equalities, all of which must hold: `{"attr.COUNTRY": "DE", "attr.VIP": true}`. '
            "Each key is `attr.` and the name of an attribute some subscriber of the organization has; a text "
            "value also matches the number or boolean it spells."
        ),
        "example": {"attr.COUNTRY": "DE"},
    }
)
class WhereField(serializers.Field):
    """A filter's `where`, its shape checked (names and values by the attribute rules); whether the
    organization uses each attribute is checked where the filter is resolved
    (subscribers.attributes.parse_where, which needs the organization)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError('Must be an object like {"attr.COUNTRY": "DE"}.')
        errors = {}
        for key, value in data.items():
            name = key.removeprefix(attributes.PREFIX)
            if not key.startswith(attributes.PREFIX) or not attributes.NAME.fullmatch(name):
                errors[key] = ["Filters are on attributes: attr.NAME, NAME an attribute name."]
                continue
            try:
                attributes.check_value(name, value)
            except attributes.InvalidAttributes as exc:
                errors[key] = [str(exc)]
        if errors:
            raise serializers.ValidationError(errors)
        return dict(data)

    def to_representation(self, value):
        return value or {}
