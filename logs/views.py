from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from connext.errors import ApplicationError
from connext.fields import NoFields
from connext.pagination import MAX_OFFSET, int_param
from connext.viewsets import OrgScopedViewSet
from logs import selectors, state
from logs.models import Message
from logs.serializers import (
    CancelResultSerializer,
    DeliveryLogSerializer,
    MessageLogSerializer,
    StatsSerializer,
)

KEYWORD = OpenApiParameter("keyword", OpenApiTypes.STR, description="Username (email) or message text.")
DELIVERY_KEYWORD = OpenApiParameter("keyword", OpenApiTypes.STR, description="Part of the recipient.")
STATUS = OpenApiParameter("status", OpenApiTypes.STR, enum=selectors.STATUS_FILTERS,
                          description="clicked: at least one click.")  # fmt: skip
SCHEDULE = OpenApiParameter(
    "schedule", {"type": "integer", "minimum": 1, "maximum": MAX_OFFSET}, description="A schedule's id: its runs only."
)
GET_CLICKS = OpenApiParameter("getClicks", OpenApiTypes.BOOL, description="true adds `clicks` to each row.")


class LogViewSet(OrgScopedViewSet):
    """Sends and their per-recipient rows. `GET /logs/{id}` lists the deliveries of a message."""

    queryset = Message.objects.all()
    permission_map = {"GET": ["logs.view_message"], "POST": ["blasts.send_blast"]}

    def _message(self, pk) -> Message:
        return get_object_or_404(Message.objects.filter(organization=self.organization), pk=pk)

    @extend_schema(parameters=[KEYWORD, SCHEDULE], responses={200: MessageLogSerializer(many=True)})
    def list(self, request):
        schedule = int_param(request, "schedule", None, 1, MAX_OFFSET)
        queryset = selectors.message_queryset(self.organization, request.query_params.get("keyword", ""), schedule)
        page = self.paginate_queryset(queryset)
        counts = selectors.counts_by_message([m.pk for m in page])
        return self.get_paginated_response(MessageLogSerializer(page, many=True, context={"counts": counts}).data)

    @extend_schema(
        operation_id="logs_deliveries",
        parameters=[DELIVERY_KEYWORD, STATUS, GET_CLICKS],
        responses={200: DeliveryLogSerializer(many=True)},
    )
    def retrieve(self, request, pk=None):
        message = self._message(pk)
        params = request.query_params
        queryset = selectors.paginable_deliveries(
            message, keyword=params.get("keyword", ""), status=params.get("status", "")
        )
        get_clicks = params.get("getClicks", "").lower()
        if get_clicks not in ("", "true", "false", "1", "0"):
            raise ApplicationError("Must be true or false.", field="getClicks")
        page = self.paginate_queryset(queryset)
        context = {"get_clicks": get_clicks in ("true", "1")}
        return self.get_paginated_response(DeliveryLogSerializer(page, many=True, context=context).data)

    @extend_schema(responses={200: StatsSerializer})
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        return Response(selectors.message_stats(self._message(pk)))

    @extend_schema(request=None, responses={200: CancelResultSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel every delivery not yet handed to a provider."""
        message = self._message(pk)
        NoFields.check(request)
        canceled = state.cancel(message.pk)
        if not canceled:
            raise ApplicationError(
                "Nothing left to cancel: every delivery was already canceled or handed to a provider."
            )
        return Response({"message": f"Canceled {canceled} deliveries.", "canceled": canceled})
