from django.urls import re_path

from connext.viewsets import OptionalSlashRouter
from devices import views

router = OptionalSlashRouter()
router.register("devices", views.DeviceViewSet, basename="device")

urlpatterns = [
    re_path(r"^devices/pairing-codes/?$", views.PairingCodeView.as_view(), name="pairing-codes"),
    *router.urls,
]
