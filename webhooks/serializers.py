from rest_framework import serializers

from connext.fields import ConnextModelSerializer, HttpURLField
from subscribers.fetch import UnsafeURL, check_url
from webhooks.models import EVENT_TYPES, Endpoint, WebhookDelivery


class EndpointSerializer(ConnextModelSerializer):
    url = HttpURLField(max_length=2048, help_text="http(s); private, loopback and link-local addresses are refused.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        min_length=1,
        required=False,
        help_text="The event types to send; default all of them.",
    )
    disabledReason = serializers.SerializerMethodField(help_text="Why the endpoint was disabled, if it was.")
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Endpoint
        fields = ["id", "url", "events", "active", "disabledReason", "createdAt"]
        extra_kwargs = {"active": {"help_text": "0 stops sending; 1 (re-)enables the endpoint."}}

    def get_disabledReason(self, endpoint) -> str | None:
        return endpoint.disabled_reason or None

    def validate_url(self, value: str) -> str:
        try:
            check_url(value)
        except UnsafeURL as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value.strip()

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value), key=EVENT_TYPES.index)


class CreatedEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="`whsec_...`: shown here only. Verify requests with it.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new `whsec_...` secret, shown once.")
    previousSecretExpiresAt = serializers.DateTimeField(help_text="Until then the old secret signs too.")


class PingResultSerializer(serializers.Serializer):
    delivered = serializers.SerializerMethodField(help_text="1 when the endpoint answered 2xx.")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    error = serializers.CharField(help_text="Why it was not delivered; empty when it was.")

    def get_delivered(self, outcome) -> int:
        return 1 if outcome.ok else 0


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="event_type")
    eventId = serializers.CharField(source="event_id", help_text="The `webhook-id` of every attempt.")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    nextRetryAt = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    lastError = serializers.CharField(source="last_error")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event", "eventId", "status", "statusCode", "attempts", "nextRetryAt", "createdAt", "lastError"]

    def get_nextRetryAt(self, delivery) -> str | None:
        at = delivery.next_attempt_at if delivery.status == WebhookDelivery.Status.PENDING else None
        return serializers.DateTimeField().to_representation(at) if at else None
