from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from connext import views

api_v1 = [
    path("", include("groups.urls")),
    path("", include("subscribers.urls")),
    path("", include("segments.urls")),
    path("", include("devices.urls")),
    path("", include("blasts.urls")),
    path("", include("schedules.urls")),
    path("", include("logs.urls")),
    path("", include("webhooks.urls")),
    path("", include("accounts.urls")),
    path("", include("analytics.urls")),
]

urlpatterns = [
    re_path(r"^healthz/?$", views.healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/v1/openapi\.json/?$", views.get_only(SpectacularJSONAPIView.as_view()), name="openapi"),
    re_path(r"^api/docs/?$", views.get_only(SpectacularSwaggerView.as_view(url_name="openapi")), name="api-docs"),
    path("admin/", admin.site.urls),
    # The Android gateway protocol: paths fixed by the phones in the field (docs/devices.md).
    path("", include("devices.protocol_urls")),
    path("", include("blasts.public_urls")),
]

handler400 = "connext.views.bad_request"
handler403 = "connext.views.permission_denied"
handler404 = "connext.views.page_not_found"
handler500 = "connext.views.server_error"
