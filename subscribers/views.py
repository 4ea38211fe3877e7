from django.db.models import Count, Window
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from connext.errors import ApplicationError
from connext.pagination import LimitOffsetPagination
from connext.schema import ErrorSerializer
from connext.viewsets import ConnextAPIView, OrgScopedModelViewSet
from subscribers import attributes, selectors, services
from subscribers.models import Subscriber
from subscribers.serializers import BlocklistEntrySerializer, RecipientSerializer, SubscriberSerializer

LIST_PARAMETERS = [
    OpenApiParameter("keyword", str, description="Search name, phone (any format), email, address."),
    OpenApiParameter("group", int, description="Group number."),
    OpenApiParameter("sort", str, enum=list(selectors.SORT_KEYS)),
    OpenApiParameter("order", str, enum=list(selectors.ORDERS)),
    OpenApiParameter(
        "attr.NAME",
        str,
        description="Attribute equality, e.g. `attr.COLOR=BLACK` (any attribute name in place of NAME; "
        "several combine with AND). A value also matches the number or boolean it spells. An attribute "
        "no subscriber of the organization has ever had is a 400.",
    ),
]


def search_params(request) -> dict:
    """The list filters of GET /subscribers (and its CSV export); bad values are 400s."""
    params = request.query_params  # NUL characters were refused by ConnextAPIMixin.initial
    # A parameter given is checked even when empty: `?sort=` is outside the enum like `?sort=age`.
    group = params.get("group")
    if group is not None:
        try:
            group = int(group)
        except ValueError:
            raise ApplicationError("Must be a group number.", field="group") from None
    sort = params.get("sort", "")
    if "sort" in params and sort not in selectors.SORT_KEYS:
        raise ApplicationError(f"Must be one of: {', '.join(selectors.SORT_KEYS)}.", field="sort")
    order = params.get("order", "asc")
    if order not in selectors.ORDERS:
        raise ApplicationError("Must be asc or desc.", field="order")
    where = {key: params[key] for key in params if key.startswith(attributes.PREFIX)}
    try:
        parsed = attributes.parse_where(where, request.user.organization.pk, field="where") if where else None
    except attributes.InvalidFilter as exc:
        raise ApplicationError(exc.message, field=exc.field.removeprefix("where.")) from None
    return {"keyword": params.get("keyword", ""), "group": group, "sort": sort, "order": order, "where": parsed}


class SearchWithTotal:
    """A keyword search whose page rows carry the total (`COUNT(*) OVER ()`), so the paginator's count()
    reads it off the page instead of running the search a second time for X-Total-Count.

    Only for keyword searches: their matches are gathered first (an id array), so counting them in the
    page query costs little; without a keyword the window would read every row of the group."""

    def __init__(self, queryset):
        self.queryset = queryset
        self.total = None

    def __getitem__(self, window: slice) -> list[Subscriber]:
        rows = list(self.queryset.annotate(search_total=Window(Count("*")))[window])
        if rows:
            self.total = rows[0].search_total
        return rows

    def count(self) -> int:
        return self.total if self.total is not None else self.queryset.count()


class SubscriberViewSet(OrgScopedModelViewSet):
    queryset = Subscriber.objects.all()
    serializer_class = SubscriberSerializer
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Subscriber.objects.none()
        return selectors.subscriber_queryset(self.organization)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "organization": getattr(self.request.user, "organization", None)}

    def _shown(self, subscriber: Subscriber) -> dict:
        return self.get_serializer(self.get_queryset().get(pk=subscriber.pk)).data

    @extend_schema(parameters=LIST_PARAMETERS)
    def list(self, request):
        params = search_params(request)
        queryset = selectors.subscriber_search(self.organization, **params)
        page = self.paginate_queryset(SearchWithTotal(queryset) if params["keyword"].strip() else queryset)
        page = selectors.with_group_numbers(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscriber = services.subscriber_create(organization=self.organization, **serializer.validated_data)
        return Response(self._shown(subscriber), status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        subscriber = self.get_object()
        serializer = self.get_serializer(subscriber, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        subscriber = services.subscriber_update(subscriber=subscriber, **serializer.validated_data)
        return Response(self._shown(subscriber))

    def destroy(self, request, pk=None):
        services.subscriber_delete(subscriber=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlocklistView(ConnextAPIView):
    """The organization's blocked phones and emails. Opt-outs (STOP, bounce, complaint) can't be removed."""

    permission_map = {
        "GET": ["subscribers.view_blocklistentry"],
        "POST": ["subscribers.add_blocklistentry"],
        "DELETE": ["subscribers.delete_blocklistentry"],
    }

    @extend_schema(responses=BlocklistEntrySerializer(many=True))
    def get(self, request):
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.blocklist(request.user.organization), request, self)
        return paginator.get_paginated_response(BlocklistEntrySerializer(page, many=True).data)

    @extend_schema(request=RecipientSerializer, responses={201: BlocklistEntrySerializer})
    def post(self, request):
        serializer = RecipientSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = services.blocklist_add(organization=request.user.organization, **serializer.validated_data)
        return Response(BlocklistEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RecipientSerializer,
        responses={
            204: None,
            404: OpenApiResponse(ErrorSerializer, description="The address is not on the blocklist."),
        },
    )
    def delete(self, request):
        serializer = RecipientSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.blocklist_remove(organization=request.user.organization, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
