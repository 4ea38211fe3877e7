"""Key-less URLs outside /api/v1 (mounted at the site root): recipients' pages and providers' hooks."""

from django.urls import include, path

from blasts import public_views

urlpatterns = [
    path("l/<str:code>", public_views.short_link, name="short-link"),
    path("u/<str:token>", public_views.unsubscribe, name="unsubscribe"),
    path("", include("blasts.channels.urls")),
]
