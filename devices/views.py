from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from connext.fields import NoFields
from connext.viewsets import ConnextAPIView
from devices.serializers import PairingCodeSerializer
from devices.services import pairing_code_create


class PairingCodeView(ConnextAPIView):
    """A one-time code (10 minutes) that a phone trades for a device token at /api/devices/register/."""

    permission_map = {"POST": ["devices.add_pairingcode"]}

    @extend_schema(request=None, responses={201: PairingCodeSerializer})
    def post(self, request):
        NoFields.check(request)
        code = pairing_code_create(user=request.user)
        return Response(PairingCodeSerializer(code).data, status=status.HTTP_201_CREATED)
