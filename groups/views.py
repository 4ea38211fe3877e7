from rest_framework import status
from rest_framework.response import Response

from connext.viewsets import OrgScopedModelViewSet
from groups import services
from groups.models import Group
from groups.serializers import GroupSerializer


class GroupViewSet(OrgScopedModelViewSet):
    """Subscriber groups. Requests and responses elsewhere refer to a group by its `number`."""

    queryset = Group.objects.order_by("number").only("id", "organization_id", "name", "number", "private")
    serializer_class = GroupSerializer

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group = services.group_create(organization=self.organization, **serializer.validated_data)
        return Response(self.get_serializer(group).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        group = self.get_object()
        serializer = self.get_serializer(group, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        group = services.group_update(group=group, **serializer.validated_data)
        return Response(self.get_serializer(group).data)

    def destroy(self, request, pk=None):
        services.group_delete(group=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
