"""Test-only routes that fail on purpose, to check the 500 error shape."""

from django.urls import path

from connext.urls import urlpatterns as connext_urlpatterns
from connext.viewsets import ConnextAPIView
from groups.models import Group


class Crash(ConnextAPIView):
    """Writes a row, then fails: the row must not survive."""

    permission_map = {"POST": ["groups.add_group"]}

    def post(self, request):
        Group.objects.create(organization=request.user.organization, name="half-written", number=99)
        raise RuntimeError("boom")


def plain_crash(request):
    raise RuntimeError("boom")


urlpatterns = [
    path("api/v1/crash", Crash.as_view()),
    path("api/v1/plain-crash", plain_crash),
    *connext_urlpatterns,
]

handler404 = "connext.views.page_not_found"
handler500 = "connext.views.server_error"
