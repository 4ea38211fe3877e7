from django.urls import re_path

from blasts.channels.twilio import paths, views


def _hook(path: str) -> str:
    return "^" + path.lstrip("/")


urlpatterns = [
    re_path(_hook(paths.STATUS) + "/?$", views.status, name="twilio-status"),
    re_path(_hook(paths.INBOUND) + "/?$", views.inbound, name="twilio-inbound"),
    re_path(_hook(paths.VOICE) + r"(?P<delivery_id>[0-9]+)/?$", views.voice, name="twilio-voice"),
]
