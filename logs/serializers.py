from rest_framework import serializers


class MessageLogSerializer(serializers.Serializer):
    """A row of `GET /logs`; the counts come from `selectors.counts_by_message` (context)."""

    id = serializers.IntegerField()
    user = serializers.SerializerMethodField(help_text="The sender's email.")
    message = serializers.CharField()
    subject = serializers.CharField()
    types = serializers.SerializerMethodField(help_text='Comma-joined, e.g. "sms,email".')
    createdAt = serializers.DateTimeField(source="created_at")
    recipients = serializers.IntegerField(help_text="Deliveries: one per recipient and channel.")
    queued = serializers.SerializerMethodField()
    sending = serializers.SerializerMethodField()
    sent = serializers.SerializerMethodField()
    delivered = serializers.SerializerMethodField()
    failed = serializers.SerializerMethodField()
    canceled = serializers.SerializerMethodField()
    clicks = serializers.SerializerMethodField()
    scheduleId = serializers.IntegerField(
        source="schedule_id", allow_null=True, help_text="The schedule this is a run of; null for a direct blast."
    )

    def get_user(self, message) -> str | None:
        return message.user.email if message.user else None

    def get_types(self, message) -> str:
        return ",".join(message.types)

    def _count(self, message, name: str) -> int:
        return self.context["counts"].get(message.pk, {}).get(name, 0)

    def get_queued(self, message) -> int:
        return self._count(message, "queued")

    def get_sending(self, message) -> int:
        return self._count(message, "sending")

    def get_sent(self, message) -> int:
        return self._count(message, "sent")

    def get_delivered(self, message) -> int:
        return self._count(message, "delivered")

    def get_failed(self, message) -> int:
        return self._count(message, "failed")

    def get_canceled(self, message) -> int:
        return self._count(message, "canceled")

    def get_clicks(self, message) -> int:
        return self._count(message, "clicks")


class DeliveryLogSerializer(serializers.Serializer):
    """A row of `GET /logs/{id}`: one recipient on one channel."""

    id = serializers.IntegerField()
    recipient = serializers.CharField()
    channel = serializers.CharField()
    status = serializers.CharField()
    errorCode = serializers.CharField(source="error_code")
    errorMessage = serializers.CharField(source="error_message")
    providerId = serializers.CharField(source="provider_id")
    sentAt = serializers.DateTimeField(source="sent_at", allow_null=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)
    fallback = serializers.CharField(
        help_text='The channel that carried the send instead, "" if none (an RCS send the handset could not '
        'take goes as "sms").'
    )
    reply = serializers.CharField(
        allow_null=True,
        help_text="The latest inbound reply to this send, if any; for a call with ivr, the key pressed.",
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("get_clicks"):
            data["clicks"] = instance.clicks
        return data


class ErrorCountSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    count = serializers.IntegerField()


class StatusCountsSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    canceled = serializers.IntegerField()
    clicked = serializers.IntegerField(help_text="Deliveries with at least one click.")


class StatsSerializer(serializers.Serializer):
    statuses = StatusCountsSerializer()
    errors = ErrorCountSerializer(many=True)
    clicks = serializers.IntegerField(help_text="Clicks in all.")
    fallbacks = serializers.DictField(
        child=serializers.IntegerField(),
        help_text='Sends another channel carried, per channel: {"sms": 12} for RCS sends that fell back to SMS.',
    )


class CancelResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    canceled = serializers.IntegerField()
