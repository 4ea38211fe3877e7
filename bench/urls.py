"""The app's routes plus `bench/bare/<pk>`: the floor a DRF view costs on this stack.

The bare view skips everything the API adds (API-key auth, role permissions,
throttling, org scoping, pagination, filters): one row by primary key through a
plain ModelSerializer, behind the same middleware and WSGI server.
"""

from django.urls import path
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny

from connext.urls import handler400, handler403, handler404, handler500  # noqa: F401
from connext.urls import urlpatterns as app_urlpatterns
from groups.models import Group


class BareGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name", "number", "private"]


class BareGroupView(generics.RetrieveAPIView):
    queryset = Group.objects.all()
    serializer_class = BareGroupSerializer
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    filter_backends = []


urlpatterns = [
    path("bench/bare/<int:pk>", BareGroupView.as_view(), name="bench-bare"),
    *app_urlpatterns,
]
