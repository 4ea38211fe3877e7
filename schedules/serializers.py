"""Wire shapes of schedules: the reference's fields, `types` comma-joined and `next` in UTC out."""

import datetime as dt
import re
import zoneinfo

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from blasts.serializers import (
    MAX_MEDIA,
    BlastSerializer,
    MediaSerializer,
    content_sid_field,
    content_variables_field,
    segment_field,
)
from connext.fields import ConnextSerializer, IntBooleanField, SingleLineCharField, StrictCharField, StrictIntegerField
from schedules import recurrence
from subscribers.serializers import WhereField

TIMEZONES = sorted(zoneinfo.available_timezones())
MAX_EVERY = 100_000
MAX_REMAINING = 2**31 - 1  # an integer column


@extend_schema_field({"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})
class StartDateField(serializers.Field):
    """`YYYY-MM-DD`, a real date."""

    default_error_messages = {"invalid": "Must be a date as YYYY-MM-DD."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", data):
            self.fail("invalid")
        try:
            return dt.date.fromisoformat(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value) -> str:
        return value.isoformat()


@extend_schema_field({"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "09:30"})
class StartTimeField(serializers.Field):
    """`HH:MM`, 24-hour."""

    default_error_messages = {"invalid": "Must be a time as HH:MM (00:00 to 23:59)."}
    PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(self.PATTERN, data):
            self.fail("invalid")
        return dt.time(int(data[:2]), int(data[3:]))

    def to_representation(self, value) -> str:
        return value.strftime("%H:%M")


def _every(**kwargs):
    return StrictIntegerField(
        min_value=1, max_value=MAX_EVERY, allow_null=True, help_text="Runs every this many `frequency` units.", **kwargs
    )


def _days(**kwargs):
    return StrictIntegerField(
        min_value=1,
        max_value=recurrence.EVERY_DAY,
        allow_null=True,
        help_text="Weekday bitmap, only with frequency: Sunday 1, Monday 2, Tuesday 4 ... Saturday 64; 127 every day.",
        **kwargs,
    )


class _RuleFields(ConnextSerializer):
    """The fields of when a schedule runs, the same on create and update."""

    startDate = StartDateField(source="start_date", help_text="YYYY-MM-DD, in `timezone`.")
    startTime = StartTimeField(source="start_time", help_text="HH:MM (24 h), in `timezone`.")
    timezone = serializers.ChoiceField(
        choices=TIMEZONES, required=False, help_text="IANA zone of startDate/startTime; the organization's by default."
    )
    frequency = serializers.ChoiceField(
        choices=recurrence.FREQUENCIES, required=False, allow_null=True, help_text="Makes the schedule recurring."
    )
    every = _every(required=False)
    days = _days(required=False)
    title = SingleLineCharField(max_length=255)


class ScheduleCreateSerializer(_RuleFields, BlastSerializer):
    """POST /schedules: when, and what each run sends (as POST /blasts takes it)."""

    remaining = StrictIntegerField(
        min_value=1, max_value=MAX_REMAINING, required=False, allow_null=True, help_text="Runs left; omitted: no end."
    )
    externalId = None
    voiceFallback = None
    dnc = None


class ScheduleUpdateSerializer(_RuleFields):
    """PATCH /schedules/{id}: what the reference lets change. startDate and startTime together."""

    startDate = StartDateField(source="start_date", required=False, help_text="YYYY-MM-DD; with startTime.")
    startTime = StartTimeField(source="start_time", required=False, help_text="HH:MM; with startDate.")
    title = SingleLineCharField(max_length=255, required=False)
    message = StrictCharField(required=False, allow_blank=True, max_length=10000)
    subject = SingleLineCharField(required=False, allow_blank=True, max_length=255)
    remaining = StrictIntegerField(
        min_value=0, max_value=MAX_REMAINING, required=False, allow_null=True, help_text="0 ends the schedule."
    )
    active = IntBooleanField(required=False, help_text="0 pauses the schedule, 1 resumes it.")
    where = WhereField(required=False, help_text="Replaces the attribute equalities its runs must match.")
    segment = segment_field(allow_null=True)
    contentSid = content_sid_field()
    contentVariables = content_variables_field()

    def validate(self, attrs):
        given = [name for name in ("start_date", "start_time") if name in attrs]
        if len(given) == 1:
            missing = "startTime" if given == ["start_date"] else "startDate"
            raise serializers.ValidationError({missing: ["Must be given with startDate and startTime together."]})
        return attrs


class ScheduleSerializer(serializers.Serializer):
    """A schedule as every endpoint returns it."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    subject = serializers.CharField()
    message = serializers.CharField()
    groups = serializers.SerializerMethodField()
    types = serializers.SerializerMethodField(help_text='Comma-joined, e.g. "sms,email".')
    active = IntBooleanField()
    next = serializers.DateTimeField(allow_null=True, help_text="The next run, UTC; null when none is left.")
    media = MediaSerializer(many=True, max_length=MAX_MEDIA)
    every = serializers.IntegerField(allow_null=True)
    frequency = serializers.CharField(allow_null=True)
    remaining = serializers.IntegerField(allow_null=True, help_text="Runs left; null: no end.")
    days = serializers.IntegerField(allow_null=True)
    timezone = serializers.CharField()
    where = serializers.DictField(help_text="Attribute equalities each run's audience must match.")
    segment = serializers.IntegerField(source="segment_id", allow_null=True, help_text="A segment's id, or null.")
    contentSid = serializers.CharField(source="content_sid")
    contentVariables = serializers.DictField(source="content_variables", child=serializers.CharField())

    def get_groups(self, schedule) -> list[int]:
        return sorted(group.number for group in schedule.groups.all())

    def get_types(self, schedule) -> str:
        return ",".join(schedule.types)

    def to_representation(self, schedule):
        data = super().to_representation(schedule)
        data["frequency"] = schedule.frequency or None
        return data


class RunSerializer(serializers.Serializer):
    """One run of a schedule: its log (a message in GET /logs)."""

    logId = serializers.IntegerField(source="id")
    firedAt = serializers.DateTimeField(source="created_at")
    recipients = serializers.IntegerField(help_text="Deliveries made for the run (0 until its fan-out).")
