from django.urls import re_path

from connext.viewsets import OptionalSlashRouter
from subscribers import export_views, import_views, views

router = OptionalSlashRouter()
router.register("subscribers", views.SubscriberViewSet, basename="subscriber")

urlpatterns = [
    re_path(r"^blocklist/?$", views.BlocklistView.as_view(), name="blocklist"),
    re_path(r"^subscribers/imports/?$", import_views.ImportCreateView.as_view(), name="subscriber-imports"),
    re_path(
        r"^subscribers/imports/(?P<pk>[0-9]+)/?$", import_views.ImportDetailView.as_view(), name="subscriber-import"
    ),
    re_path(r"^subscribers/export/?$", export_views.ExportView.as_view(), name="subscriber-export"),
    *router.urls,
]
