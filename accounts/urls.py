from django.urls import re_path

from accounts import views
from connext.viewsets import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("subaccounts", views.SubaccountViewSet, basename="subaccount")

urlpatterns = [
    re_path(r"^credits/?$", views.CreditsView.as_view(), name="credits"),
    re_path(r"^credits/ledger/?$", views.LedgerView.as_view(), name="credits-ledger"),
    re_path(r"^organization/?$", views.OrganizationView.as_view(), name="organization"),
    *router.urls,
]
