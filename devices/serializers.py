from rest_framework import serializers

from devices.models import PairingCode


class PairingCodeSerializer(serializers.ModelSerializer):
    expiresAt = serializers.DateTimeField(source="expires_at", read_only=True)

    class Meta:
        model = PairingCode
        fields = ["code", "expiresAt"]
        read_only_fields = fields
