from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from connext.errors import ApplicationError
from connext.fields import NoFields
from connext.viewsets import OrgScopedModelViewSet
from webhooks import services
from webhooks.models import Endpoint, WebhookDelivery
from webhooks.serializers import (
    CreatedEndpointSerializer,
    EndpointSerializer,
    PingResultSerializer,
    SecretSerializer,
    WebhookDeliverySerializer,
)

DELIVERY_STATUS = OpenApiParameter(
    "status", OpenApiTypes.STR, enum=list(WebhookDelivery.Status.values), description="Only deliveries in this status."
)
# Actions that post to the endpoint: run outside a transaction (a request may take the whole
# timeout, and must not hold row locks meanwhile).
SENDING_ACTIONS = ("test", "retry")


class WebhookViewSet(OrgScopedModelViewSet):
    """The organization's webhook endpoints: where its events are posted, signed."""

    queryset = Endpoint.objects.live().order_by("id")
    serializer_class = EndpointSerializer
    permission_map_by_action = {
        "deliveries": ["webhooks.view_webhookdelivery"],
        "retry": ["webhooks.change_webhookdelivery"],
        "test": ["webhooks.change_endpoint"],
        "rotate_secret": ["webhooks.change_endpoint"],
    }

    def get_permissions(self):
        if self.action in self.permission_map_by_action:
            self.permission_map = {self.request.method: self.permission_map_by_action[self.action]}
        return super().get_permissions()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action in SENDING_ACTIONS:
            self._end_transaction()  # nothing written yet: the action writes in autocommit

    @extend_schema(responses={201: CreatedEndpointSerializer})
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(organization=self.organization, **serializer.validated_data)
        return Response(CreatedEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        serializer = self.get_serializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response(self.get_serializer(endpoint).data)

    def destroy(self, request, pk=None):
        services.endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: SecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new secret, shown once; the old one keeps signing beside it for 24 hours."""
        NoFields.check(request)
        endpoint = services.endpoint_rotate_secret(endpoint=self.get_object())
        return Response({"secret": endpoint.secret, "previousSecretExpiresAt": endpoint.previous_secret_until})

    @extend_schema(request=None, responses={200: PingResultSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Post a signed `ping` event to the endpoint now and say how it answered."""
        NoFields.check(request)
        outcome = services.endpoint_ping(endpoint=self.get_object())
        return Response(PingResultSerializer(outcome).data)

    @extend_schema(parameters=[DELIVERY_STATUS], responses={200: WebhookDeliverySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The endpoint's events and where their attempts stand, newest first."""
        endpoint = self.get_object()
        queryset = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-id").defer("payload")
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in WebhookDelivery.Status.values:
                raise ApplicationError(f"Must be one of {', '.join(WebhookDelivery.Status.values)}.", field="status")
            queryset = queryset.filter(status=wanted)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery>[0-9]+)/retry")
    def retry(self, request, pk=None, delivery=None):
        """Send one delivery again now (same `webhook-id` and body)."""
        NoFields.check(request)
        endpoint = self.get_object()
        row = get_object_or_404(WebhookDelivery.objects.select_related("endpoint"), endpoint=endpoint, pk=delivery)
        return Response(WebhookDeliverySerializer(services.delivery_retry(delivery=row)).data)
