from django.urls import re_path

from devices import views

urlpatterns = [
    re_path(r"^devices/pairing-codes/?$", views.PairingCodeView.as_view(), name="pairing-codes"),
]
