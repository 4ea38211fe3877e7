"""Provider callbacks (no API key: each provider's signature is the auth), mounted at the site root.

Each path works with and without a trailing slash: a redirect would lose the POST body.
"""

from django.urls import re_path

from logs import callbacks

urlpatterns = [
    re_path(r"^hooks/twilio/status/?$", callbacks.twilio_status_view, name="twilio-status"),
    re_path(r"^hooks/twilio/inbound/?$", callbacks.twilio_inbound_view, name="twilio-inbound"),
    re_path(r"^hooks/sendgrid/events/?$", callbacks.sendgrid_events_view, name="sendgrid-events"),
]
