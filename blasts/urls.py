from django.urls import re_path

from blasts import views
from connext.viewsets import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("templates", views.TemplateViewSet, basename="template")

urlpatterns = [
    re_path(r"^blasts/?$", views.BlastView.as_view(), name="blasts"),
    re_path(r"^blasts/test/?$", views.BlastTestView.as_view(), name="blast-test"),
    re_path(r"^blasts/estimate/?$", views.BlastEstimateView.as_view(), name="blast-estimate"),
    *router.urls,
]
