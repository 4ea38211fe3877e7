from rest_framework import serializers

from accounts.serializers import money_field

STATUSES = ["queued", "sending", "sent", "delivered", "failed", "canceled"]


class MessagesRowSerializer(serializers.Serializer):
    """One row of GET /analytics/messages: its key (`day`, `channel` or `status`, as grouped),
    deliveries per status, and what the charged ones cost."""

    day = serializers.DateField(required=False, help_text="groupBy=day: the local date in `timezone`.")
    channel = serializers.CharField(required=False, help_text="groupBy=channel: sms, mms, voice or email.")
    status = serializers.ChoiceField(choices=STATUSES, required=False, help_text="groupBy=status.")
    total = serializers.IntegerField(help_text="Deliveries (one per recipient and channel).")
    queued = serializers.IntegerField(required=False)
    sending = serializers.IntegerField(required=False)
    sent = serializers.IntegerField(required=False)
    delivered = serializers.IntegerField(required=False)
    failed = serializers.IntegerField(required=False)
    canceled = serializers.IntegerField(required=False)
    billed = serializers.IntegerField(
        help_text="Deliveries charged: not canceled nor failed before a provider took them."
    )
    segments = serializers.IntegerField(help_text="SMS segments of the charged deliveries (1 for other kinds).")
    cost = money_field(help_text="What the charged deliveries cost (price x segments).")


class UsageRowSerializer(serializers.Serializer):
    organizationId = serializers.IntegerField()
    name = serializers.CharField()
    subaccount = serializers.IntegerField(min_value=0, max_value=1, help_text="1 for a sub-account, 0 for your own.")
    messages = serializers.IntegerField(help_text="Deliveries charged (sent or on their way).")
    segments = serializers.IntegerField()
    cost = money_field()


class UsageTotalSerializer(serializers.Serializer):
    messages = serializers.IntegerField()
    segments = serializers.IntegerField()
    cost = money_field()


class UsageSerializer(serializers.Serializer):
    rows = UsageRowSerializer(many=True)
    total = UsageTotalSerializer()
    currency = serializers.CharField()
