from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from connext.fields import NoFields
from connext.viewsets import ConnextAPIView, OrgScopedModelViewSet
from devices.models import Device
from devices.serializers import DeviceSerializer, PairingCodeSerializer
from devices.services import device_delete, device_update, pairing_code_create


class PairingCodeView(ConnextAPIView):
    """A one-time code (10 minutes) that a phone trades for a device token at /api/devices/register/."""

    permission_map = {"POST": ["devices.add_pairingcode"]}

    @extend_schema(request=None, responses={201: PairingCodeSerializer})
    def post(self, request):
        NoFields.check(request)
        code = pairing_code_create(user=request.user)
        return Response(PairingCodeSerializer(code).data, status=status.HTTP_201_CREATED)


class DeviceViewSet(OrgScopedModelViewSet):
    """The organization's paired phones: health and limits. Pairing is a code traded by the phone."""

    queryset = Device.objects.order_by("name", "id")
    serializer_class = DeviceSerializer

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": timezone.now().date()}

    def partial_update(self, request, pk=None):
        device = self.get_object()
        serializer = self.get_serializer(device, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        device = device_update(device=device, data=serializer.validated_data)
        return Response(self.get_serializer(device).data)

    def destroy(self, request, pk=None):
        device_delete(device=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
