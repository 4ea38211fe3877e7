from rest_framework import serializers

from connext.fields import ConnextModelSerializer
from groups.models import MAX_NUMBER, Group


class GroupSerializer(ConnextModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name", "number", "private"]
        extra_kwargs = {
            "number": {
                "required": False,
                "min_value": 1,
                "max_value": MAX_NUMBER,
                "help_text": "Unique within the organization; auto-assigned (max + 1) if omitted.",
            },
            "name": {"help_text": "Display name."},
        }

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value
