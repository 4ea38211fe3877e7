"""The gateway protocol Android phones speak (docs/devices.md), served at the site root:

    POST /api/devices/register/             pairing code -> device id and token
    GET  /api/devices/<id>/tasks/           claim texts to send
    POST /api/devices/<id>/heartbeat/       presence, battery, signal, versions
    POST /api/sms/<id>/status/              sent | delivered | failed of a task the device holds
    POST /api/sms/inbound/                  a text the phone received (STOP/START/HELP, replies)
    POST /api/sms/send/                     dashboard session: send one text
    POST /api/external/send/                send-only API key in the body: send one text
    GET  /api/stats/                        dashboard session: totals and per-device numbers

Phones in the field run against these paths and shapes: they change only with the phones.
Errors are JSON `{"message"}` like the rest of the API; not part of the /api/v1 schema.
"""

import hashlib

from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from connext.errors import PayloadTooLarge
from connext.fields import ConnextSerializer, StrictCharField, StrictIntegerField
from devices import queue, selectors, sending
from devices.authentication import DashboardSession, DeviceTokenAuthentication, InOrganization, IsDevice, send_key
from devices.services import device_heartbeat, device_register
from logs.inbound import receive_text
from logs.reports import InboundText

BODY_LIMIT = 16 * 1024  # bytes: every protocol body is a few hundred


class ProtocolView(APIView):
    """Bodies bounded, no API-key auth, throttle or schema: each view names its credential."""

    schema = None
    throttle_classes = []
    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = [IsDevice]

    def initial(self, request, *args, **kwargs):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > BODY_LIMIT:
            raise PayloadTooLarge(f"Request body is too large (at most {BODY_LIMIT} bytes).")
        super().initial(request, *args, **kwargs)

    @staticmethod
    def valid(serializer_class, request) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class RegisterSerializer(ConnextSerializer):
    code = StrictCharField(max_length=16)
    device_name = StrictCharField(max_length=100)
    phone_number = StrictCharField(max_length=32)
    model = StrictCharField(max_length=100, required=False, allow_blank=True)


class RegisterView(ProtocolView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        data = self.valid(RegisterSerializer, request)
        device, token = device_register(
            code=data["code"], name=data["device_name"], phone_number=data["phone_number"], model=data.get("model", "")
        )
        body = {"device_id": str(device.pk), "device_token": token, "device_name": device.name}
        return Response(body, status=status.HTTP_201_CREATED)


class TasksView(ProtocolView):
    def get(self, request, device_id):
        return Response(queue.claim_tasks(request.auth))


class HeartbeatSerializer(ConnextSerializer):
    battery = StrictIntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    signal = StrictIntegerField(min_value=-200, max_value=200, required=False, allow_null=True)
    android_version = StrictCharField(max_length=32, required=False, allow_blank=True)
    app_version = StrictCharField(max_length=32, required=False, allow_blank=True)
    model = StrictCharField(max_length=100, required=False, allow_blank=True)


class HeartbeatView(ProtocolView):
    def post(self, request, device_id):
        device = device_heartbeat(device=request.auth, data=self.valid(HeartbeatSerializer, request))
        last_seen = device.last_seen_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return Response({"status": "ok", "device_id": str(device.pk), "last_seen": last_seen})


class StatusSerializer(ConnextSerializer):
    status = serializers.ChoiceField(choices=queue.REPORTABLE)
    error = StrictCharField(max_length=500, required=False, allow_blank=True)


class StatusView(ProtocolView):
    def post(self, request, task_id):
        data = self.valid(StatusSerializer, request)
        task = int(task_id) if task_id.isdigit() and len(task_id) < 19 else None
        if task is None:
            return Response({"message": "No such task for this device."}, status=status.HTTP_404_NOT_FOUND)
        now = queue.report(request.auth, task, data["status"], data.get("error", ""))
        return Response({"id": task_id, "status": now})


class InboundSerializer(ConnextSerializer):
    message = StrictCharField(max_length=1600, allow_blank=True, trim_whitespace=False)
    id = StrictCharField(max_length=64, required=False)
    received_at = StrictCharField(max_length=40, required=False)

    def get_fields(self):
        # The sender is `from` on the wire: a Python keyword, so not a class attribute.
        return {"from": StrictCharField(max_length=32, source="from_number"), **super().get_fields()}


class InboundView(ProtocolView):
    def post(self, request):
        data = self.valid(InboundSerializer, request)
        device = request.auth
        # The phone's own message id makes a repeated post one reply; without one, its content does.
        key = (
            data.get("id")
            or hashlib.sha256(
                f"{data['from_number']}\n{data.get('received_at', '')}\n{data['message']}".encode()
            ).hexdigest()[:40]
        )
        text = InboundText(data["from_number"], device.phone_number, data["message"], f"device:{device.pk}:{key}"[:64])
        return Response({"status": "ok", "reply": receive_text(text)})  # its own transaction, retried on a deadlock


class DeviceIdField(serializers.Field):
    """A device id as the protocol writes it (a string of digits), or as a number."""

    default_error_messages = {"invalid": "Must be a device id."}

    def to_internal_value(self, data):
        text = str(data) if isinstance(data, int) and not isinstance(data, bool) else data
        if not isinstance(text, str) or not text.isdigit() or len(text) > 18:
            self.fail("invalid")
        return int(text)


class SendSerializer(ConnextSerializer):
    to = StrictCharField(max_length=32)
    message = StrictCharField(max_length=1600)
    device_id = DeviceIdField(required=False)


class DashboardSendView(ProtocolView):
    authentication_classes = [DashboardSession]
    permission_classes = [InOrganization]
    permission = "blasts.send_blast"

    def post(self, request):
        data = self.valid(SendSerializer, request)
        user = request.user
        body = sending.sms_send(organization=user.organization, user=user, to=data["to"], text=data["message"],
                                device_id=data.get("device_id"))  # fmt: skip
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ExternalSendSerializer(SendSerializer):
    api_key = serializers.JSONField()  # checked by send_key: any value but a valid key is a 401


class ExternalSendView(ProtocolView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return 'api_key realm="send"'  # the key is in the body; a refused one is a 401 (DRF: 403 without a header)

    def post(self, request):
        key = send_key(request.data.get("api_key") if isinstance(request.data, dict) else None)
        data = self.valid(ExternalSendSerializer, request)
        body = sending.sms_send(organization=key.organization, user=key.user, to=data["to"], text=data["message"],
                                device_id=data.get("device_id"))  # fmt: skip
        return Response(body, status=status.HTTP_202_ACCEPTED)


class StatsView(ProtocolView):
    authentication_classes = [DashboardSession]
    permission_classes = [InOrganization]
    permission = "logs.view_message"

    def get(self, request):
        return Response(selectors.stats(request.user.organization))
