from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from blasts import compose
from blasts.models import Template
from blasts.serializers import (
    BlastResultSerializer,
    BlastSerializer,
    EstimateResultSerializer,
    EstimateSerializer,
    TemplateSerializer,
    TestBlastSerializer,
)
from connext.viewsets import ConnextAPIView, OrgScopedModelViewSet
from subscribers.services import groups_for_numbers

SEND = ["blasts.send_blast"]


class _SendView(ConnextAPIView):
    permission_map = {"POST": SEND}
    send_action = True
    serializer_class = BlastSerializer
    queued = "Blast queued."

    def send(self, user, data):
        raise NotImplementedError

    def post(self, request):
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = self.send(request.user, serializer.validated_data)
        return Response({"message": self.queued, "id": message.pk, "recipients": message.recipients})


@extend_schema_view(post=extend_schema(request=BlastSerializer, responses={200: BlastResultSerializer}))
class BlastView(_SendView):
    """Send a blast to groups now. Returns at once; deliveries are made and sent by workers."""

    def send(self, user, data):
        return compose.blast_create(user=user, data=data)


@extend_schema_view(post=extend_schema(request=TestBlastSerializer, responses={200: BlastResultSerializer}))
class BlastTestView(_SendView):
    """Send the blast to the calling user's own phone and email only."""

    serializer_class = TestBlastSerializer
    queued = "Test queued."

    def send(self, user, data):
        return compose.blast_test(user=user, data=data)


class BlastEstimateView(ConnextAPIView):
    """Recipients per channel, SMS segments and encoding, cost per channel and in total."""

    permission_map = {"POST": SEND}

    @extend_schema(request=EstimateSerializer, responses={200: EstimateResultSerializer})
    def post(self, request):
        serializer = EstimateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(compose.estimate(user=request.user, data=serializer.validated_data))


class TemplateViewSet(OrgScopedModelViewSet):
    """Reusable blasts. `groups` and `dnc` are group numbers; `media` in, `files` out."""

    queryset = Template.objects.prefetch_related("groups", "dnc")
    serializer_class = TemplateSerializer

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = self._save(Template(organization=self.organization), serializer.validated_data)
        return Response(self.get_serializer(template).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        template = self.get_object()
        serializer = self.get_serializer(template, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        template = self._save(template, serializer.validated_data)
        return Response(self.get_serializer(template).data)

    def _save(self, template: Template, data: dict) -> Template:
        groups = data.pop("groups", None)
        dnc = data.pop("dnc", None)
        for name, value in data.items():
            setattr(template, name, value)
        template.save()
        if groups is not None:
            template.groups.set(groups_for_numbers(self.organization, groups, field="groups"))
        if dnc is not None:
            template.dnc.set(groups_for_numbers(self.organization, dnc, field="dnc"))
        return Template.objects.prefetch_related("groups", "dnc").get(pk=template.pk)
