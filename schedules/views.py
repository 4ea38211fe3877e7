from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from blasts.serializers import check_content
from connext.viewsets import OrgScopedModelViewSet
from logs.models import Message
from schedules import services
from schedules.models import Schedule
from schedules.serializers import (
    RunSerializer,
    ScheduleCreateSerializer,
    ScheduleSerializer,
    ScheduleUpdateSerializer,
)

KEYWORD = OpenApiParameter("keyword", OpenApiTypes.STR, description="Part of the title or message.")


class ScheduleViewSet(OrgScopedModelViewSet):
    """Blasts sent later, once or on a recurring rule. Each run is a message in GET /logs."""

    queryset = Schedule.objects.prefetch_related("groups")
    serializer_class = ScheduleSerializer

    def get_queryset(self):
        queryset = super().get_queryset().order_by("id")
        if self.action == "list":
            keyword = self.request.query_params.get("keyword", "").strip()
            if keyword:
                queryset = queryset.filter(Q(title__icontains=keyword) | Q(message__icontains=keyword))
        return queryset

    @extend_schema(parameters=[KEYWORD])
    def list(self, request):
        return super().list(request)

    @extend_schema(request=ScheduleCreateSerializer, responses={201: ScheduleSerializer})
    def create(self, request):
        serializer = ScheduleCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = services.schedule_create(user=request.user, data=dict(serializer.validated_data))
        return Response(self._shown(schedule), status=status.HTTP_201_CREATED)

    @extend_schema(request=ScheduleUpdateSerializer, responses={200: ScheduleSerializer})
    def partial_update(self, request, pk=None):
        schedule = self.get_object()
        serializer = ScheduleUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        content_fields = ("message", "subject", "content_sid", "content_variables")
        if any(name in data for name in content_fields):  # what the schedule's types need of them
            names = ("types", "message", "subject", "media", "ivr", "content_sid", "content_variables")
            check_content({**{name: getattr(schedule, name) for name in names}, **data})
        schedule = services.schedule_update(schedule, data)
        return Response(self._shown(schedule))

    @extend_schema(responses={200: RunSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="runs")
    def runs(self, request, pk=None):
        """The schedule's runs, newest first: each is a message of GET /logs (`logId`)."""
        schedule = self.get_object()
        runs = Message.objects.filter(organization=self.organization, schedule=schedule).order_by("-created_at", "-id")
        page = self.paginate_queryset(runs.only("id", "created_at", "recipients"))
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    def _shown(self, schedule: Schedule) -> dict:
        return ScheduleSerializer(Schedule.objects.prefetch_related("groups").get(pk=schedule.pk)).data
