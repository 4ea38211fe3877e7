"""Serializer fields and the base serializer for the wire conventions of API.md.

Booleans go out as 0/1 and come in as true/false or 0/1; strings and integers
are strict (no silent `123` -> "123"); unknown fields on a write are refused.
"""

import copy
from urllib.parse import urlsplit

from django.db import models
from rest_framework import serializers
from rest_framework.fields import empty


class IntBooleanField(serializers.Field):
    default_error_messages = {"invalid": "Must be a boolean: true/false or 0/1."}
    TRUE = (True, 1, "1", "true", "True")
    FALSE = (False, 0, "0", "false", "False")

    def to_internal_value(self, data):
        # `1.0 == 1` and `True == 1` in Python: compare types too.
        if isinstance(data, float):
            self.fail("invalid")
        if data in self.TRUE:
            return True
        if data in self.FALSE:
            return False
        self.fail("invalid")

    def to_representation(self, value) -> int:
        return 1 if value else 0


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SingleLineCharField(StrictCharField):
    """One line of text (an email subject, a header): a CR or LF anywhere is refused, before the
    surrounding whitespace is trimmed; the schema gives its pattern (connext.schema.ONE_LINE)."""

    default_error_messages = {"lines": "Must be one line."}

    def run_validation(self, data=empty):
        if isinstance(data, str) and ("\r" in data or "\n" in data):
            self.fail("lines")
        return super().run_validation(data)


class HttpURLField(StrictCharField):
    """An http(s) URL with a host; the schema gives its pattern (connext.schema.HTTP_URL)."""

    default_error_messages = {"url": "Must be an http or https URL."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            parts = urlsplit(value)
        except ValueError:  # "http://[::1": an unclosed IPv6 literal
            self.fail("url")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.fail("url")
        return value


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def check_object_fields(serializer: serializers.Serializer, data) -> None:
    """A write must be a JSON object naming only the serializer's writable fields."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    writable = {name for name, field in serializer.fields.items() if not field.read_only}
    unknown = sorted(set(data) - writable)
    if unknown:
        raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})


class ConnextModelSerializer(serializers.ModelSerializer):
    refuses_unknown_fields = True  # the schema says so (connext.schema: additionalProperties false)
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.BooleanField: IntBooleanField,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.IntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.SmallIntegerField: StrictIntegerField,
        models.BigIntegerField: StrictIntegerField,
    }

    def get_fields(self):
        # ModelSerializer introspects the model again for every serializer instance
        # (a third of a list request's time); the fields depend only on the class,
        # so they are built once per class and copied, as DRF does for declared fields.
        cls = type(self)
        if "_field_prototypes" not in cls.__dict__:
            cls._field_prototypes = super().get_fields()
        return copy.deepcopy(cls._field_prototypes)

    def to_internal_value(self, data):
        check_object_fields(self, data)
        return super().to_internal_value(data)


class ConnextSerializer(serializers.Serializer):
    """A plain serializer with the same rules: a JSON object, no unknown fields."""

    refuses_unknown_fields = True

    def to_internal_value(self, data):
        check_object_fields(self, data)
        return super().to_internal_value(data)


class NoFields(ConnextSerializer):
    """The body of an action that takes nothing (`POST /logs/{id}/cancel`): empty or `{}`;
    a field named is a 400 naming it, malformed JSON a 400, another media type a 415."""

    @classmethod
    def check(cls, request) -> None:
        cls(data=request.data).is_valid(raise_exception=True)
