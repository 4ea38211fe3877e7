from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connext.fields import ConnextModelSerializer, IntBooleanField, StrictIntegerField
from devices import queue
from devices.models import Device, PairingCode


class PairingCodeSerializer(serializers.ModelSerializer):
    expiresAt = serializers.DateTimeField(source="expires_at", read_only=True)

    class Meta:
        model = PairingCode
        fields = ["code", "expiresAt"]
        read_only_fields = fields


class DeviceSerializer(ConnextModelSerializer):
    """A paired phone: what it said in its last heartbeat, and its sending limits (writable)."""

    phoneNumber = serializers.CharField(source="phone_number", read_only=True)
    status = serializers.SerializerMethodField(help_text="online while its last heartbeat is under 60 s old")
    lastSeen = serializers.DateTimeField(source="last_seen_at", read_only=True, allow_null=True)
    sentToday = serializers.SerializerMethodField(
        help_text="SMS segments it took today (UTC), counted against dailyCap"
    )
    dailyCap = StrictIntegerField(source="daily_cap", allow_null=True, required=False, min_value=1, max_value=10**6,
                                  help_text="SMS segments per UTC day (a 9-part text is 9); null: no cap")  # fmt: skip
    minDelaySeconds = serializers.FloatField(source="min_delay_seconds", required=False, min_value=0, max_value=3600)
    jitterSeconds = serializers.FloatField(source="jitter_seconds", required=False, min_value=0, max_value=3600,
                                           help_text="up to this many random seconds added to each delay")  # fmt: skip
    monthlyRecipientCap = StrictIntegerField(source="monthly_recipient_cap", allow_null=True, required=False,
                                             min_value=1, max_value=10**6,
                                             help_text="distinct recipients per UTC month; null: no cap")  # fmt: skip
    active = IntBooleanField(required=False, help_text="0: it gets no tasks")

    class Meta:
        model = Device
        fields = [
            "id", "name", "model", "phoneNumber", "status", "lastSeen", "battery", "signal", "sentToday",
            "dailyCap", "minDelaySeconds", "jitterSeconds", "monthlyRecipientCap", "active",
        ]  # fmt: skip
        read_only_fields = ["id", "model", "battery", "signal"]
        extra_kwargs = {"name": {"required": False}}

    @extend_schema_field(serializers.ChoiceField(choices=["online", "offline"]))
    def get_status(self, device: Device) -> str:
        return "online" if queue.is_online(device) else "offline"

    def get_sentToday(self, device: Device) -> int:
        return device.sent_today(self.context["today"])

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value
