"""Wire shape of a segment: `groups` by number, `where` attribute equalities, `keyword`."""

from rest_framework import serializers

from connext.fields import ConnextModelSerializer, StrictCharField, StrictIntegerField
from segments.models import Segment
from subscribers.serializers import WhereField


class SegmentSerializer(ConnextModelSerializer):
    name = StrictCharField(max_length=255)
    groups = serializers.ListField(
        source="group_numbers",
        child=StrictIntegerField(min_value=1),
        required=False,
        help_text="Group numbers: members of any of them. Empty or left out: no group condition.",
    )
    where = WhereField(required=False)
    keyword = StrictCharField(
        required=False, allow_blank=True, max_length=100, help_text="As `keyword` of GET /subscribers."
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Segment
        fields = ["id", "name", "groups", "where", "keyword", "createdAt", "updatedAt"]

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()

    def validate_groups(self, value: list[int]) -> list[int]:
        return list(dict.fromkeys(value))
