"""Credits, the ledger, sub-accounts and the organization's own settings: `/credits`,
`/credits/ledger`, `/subaccounts`, `/organization`. A parent manages its sub-accounts' settings
and credits here; their data (subscribers, logs) stays theirs: every other path is scoped to
the caller's own organization."""

import datetime as dt
import zoneinfo

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import credits, metering, services
from accounts.models import Balance, LedgerEntry
from accounts.serializers import (
    CreatedSubaccountSerializer,
    CreditsSerializer,
    LedgerEntrySerializer,
    OrganizationSerializer,
    SubaccountCreateSerializer,
    SubaccountSerializer,
    TransferResultSerializer,
    TransferSerializer,
)
from connext.errors import ApplicationError
from connext.models import Organization
from connext.viewsets import ConnextAPIMixin, ConnextAPIView, OrgScopedViewSet

MANAGE = ["connext.change_organization"]
READ_ORG = ["connext.view_organization"]
READ_CREDITS = ["accounts.view_ledgerentry"]

FROM = OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD, the organization's time zone).")
TO = OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, included.")


# Days outside these bound nothing: nothing was sent then, and the instants near year 1 and 9999
# overflow once moved to UTC.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(9000, 1, 1)


def date_param(request, name: str) -> dt.date | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        if len(raw) != 10:
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApplicationError("Must be a date, YYYY-MM-DD.", field=name) from None


def day_range(request, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`from` and `to` (days, `to` included) as [start, end) instants in `zone`."""
    start, end = date_param(request, "from"), date_param(request, "to")
    if start and end and end < start:
        raise ApplicationError("Must not be before `from`.", field="to")
    begin = dt.datetime.combine(start, dt.time(), zone) if start and start > EARLIEST else None
    finish = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone) if end and end < LATEST else None
    return begin, finish


def credits_of(org: Organization) -> dict:
    payer = metering.payer_of(org)
    return {
        "balance": credits.balance_of(org.pk),
        "currency": settings.PRICE_CURRENCY,
        "mode": org.credit_mode if org.parent_id else "own",
        "billed": org.billed,
        "available": metering.available(org),
        "monthlyCap": org.monthly_cap if payer is not None and payer.pk != org.pk else None,
        "spentThisMonth": credits.spent_this_month(org.pk, account_id=org.parent_id) if org.parent_id else credits.ZERO,
    }


class CreditsView(ConnextAPIView):
    """The organization's credits: its balance, and how its sends are paid."""

    permission_map = {"GET": READ_CREDITS}

    @extend_schema(responses={200: CreditsSerializer})
    def get(self, request):
        return Response(CreditsSerializer(credits_of(request.user.organization)).data)


class LedgerView(ConnextAPIMixin, generics.ListAPIView):
    """Every movement of the balance, newest first (and what a sub-account drew on its parent's)."""

    permission_map = {"GET": READ_CREDITS}

    serializer_class = LedgerEntrySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            return LedgerEntry.objects.none()
        org = self.request.user.organization
        start, end = day_range(self.request, zoneinfo.ZoneInfo(org.timezone))
        queryset = credits.ledger_of(org)
        if start:
            queryset = queryset.filter(created_at__gte=start)
        if end:
            queryset = queryset.filter(created_at__lt=end)
        return queryset

    @extend_schema(parameters=[FROM, TO])
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


def _subaccount_data(org: Organization, balances: dict | None = None) -> dict:
    data = SubaccountSerializer(org).data
    balance = (balances or {}).get(org.pk) if balances is not None else credits.balance_of(org.pk)
    data["balance"] = str((balance or credits.ZERO).quantize(credits.PLACES))
    return data


class SubaccountViewSet(OrgScopedViewSet):
    """The organization's sub-accounts (child organizations): their settings and credits."""

    queryset = Organization.objects.order_by("id")
    org_field = "parent"
    serializer_class = SubaccountSerializer
    permission_map = {"GET": READ_ORG, "POST": MANAGE, "PATCH": MANAGE}
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(responses={200: SubaccountSerializer(many=True)})
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        balances = dict(Balance.objects.filter(organization__in=page).values_list("organization_id", "balance"))
        return self.get_paginated_response([_subaccount_data(org, balances) for org in page])

    @extend_schema(request=SubaccountCreateSerializer, responses={201: CreatedSubaccountSerializer})
    def create(self, request):
        serializer = SubaccountCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        admin_email = fields.pop("adminEmail")
        org, admin, key = services.subaccount_create(parent=self.organization, admin_email=admin_email, **fields)
        data = {**_subaccount_data(org), "adminEmail": admin.email, "apiKey": key}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: SubaccountSerializer})
    def retrieve(self, request, pk=None):
        return Response(_subaccount_data(self.get_object()))

    @extend_schema(request=SubaccountSerializer, responses={200: SubaccountSerializer})
    def partial_update(self, request, pk=None):
        org = self.get_object()
        serializer = SubaccountSerializer(org, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        org = services.subaccount_update(subaccount=org, **serializer.validated_data)
        return Response(_subaccount_data(org))

    @extend_schema(request=TransferSerializer, responses={200: TransferResultSerializer})
    @action(detail=True, methods=["post"])
    def credits(self, request, pk=None):
        """Move credits from your balance to the sub-account's (negative: take them back)."""
        child = self.get_object()
        serializer = TransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        amount = serializer.validated_data["amount"]
        child_balance, parent_balance = services.subaccount_transfer(
            parent=self.organization, subaccount=child, amount=amount, note=serializer.validated_data.get("note", "")
        )
        moved = f"Moved {abs(amount):.4f} {'to' if amount > 0 else 'from'} {child.name}."
        return Response(TransferResultSerializer(
            {"message": moved, "amount": amount, "balance": child_balance, "parentBalance": parent_balance}
        ).data)  # fmt: skip


class OrganizationView(ConnextAPIView):
    """The caller's organization. Org admins set its HELP answer and its sender identity (own
    Twilio number or Messaging Service, own email from-address and name)."""

    permission_map = {"GET": READ_ORG, "PATCH": MANAGE}

    @extend_schema(responses={200: OrganizationSerializer})
    def get(self, request):
        return Response(OrganizationSerializer(request.user.organization).data)

    @extend_schema(request=OrganizationSerializer, responses={200: OrganizationSerializer})
    def patch(self, request):
        org = Organization.objects.select_for_update().get(pk=request.user.organization_id)
        serializer = OrganizationSerializer(org, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        org = services.organization_update(organization=org, **serializer.validated_data)
        return Response(OrganizationSerializer(org).data)
