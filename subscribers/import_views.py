"""POST /subscribers/imports and GET /subscribers/imports/{id} (to be written)."""

from rest_framework import exceptions

from connext.viewsets import ConnextAPIView


class ImportCreateView(ConnextAPIView):
    permission_map = {"POST": ["subscribers.add_subscriber", "subscribers.change_subscriber"]}

    def post(self, request):
        raise exceptions.APIException("Not implemented yet.")


class ImportDetailView(ConnextAPIView):
    permission_map = {"GET": ["subscribers.view_subscriber"]}

    def get(self, request, pk):
        raise exceptions.NotFound()
