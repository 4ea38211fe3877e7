from rest_framework import status
from rest_framework.response import Response

from connext.viewsets import OrgScopedModelViewSet
from segments import services
from segments.models import Segment
from segments.serializers import SegmentSerializer


class SegmentViewSet(OrgScopedModelViewSet):
    """Saved filters of subscribers (groups, attributes, keyword): give a segment's id as `segment`
    to a blast, a schedule or the estimate; who matches is decided when the blast fans out."""

    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        segment = services.segment_create(organization=self.organization, **serializer.validated_data)
        return Response(self.get_serializer(segment).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        segment = self.get_object()
        serializer = self.get_serializer(segment, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        segment = services.segment_update(segment=segment, **serializer.validated_data)
        return Response(self.get_serializer(segment).data)

    def destroy(self, request, pk=None):
        services.segment_delete(segment=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
