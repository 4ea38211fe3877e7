"""GET /subscribers/export (to be written)."""

from rest_framework import exceptions

from connext.viewsets import ConnextAPIView


class ExportView(ConnextAPIView):
    permission_map = {"GET": ["subscribers.view_subscriber"]}

    def get(self, request):
        raise exceptions.NotFound()
