"""Key-less URLs outside /api/v1 (mounted at the site root)."""

from django.urls import path, re_path

from blasts import hooks

urlpatterns = [
    re_path(r"^hooks/twilio/voice/(?P<delivery_id>[0-9]+)/?$", hooks.twilio_voice, name="twilio-voice"),
    path("l/<str:code>", hooks.short_link, name="short-link"),
    path("u/<str:token>", hooks.unsubscribe, name="unsubscribe"),
]
