"""`POST /hooks/sendgrid/events`: SendGrid's signed event webhook, a JSON array of events."""

import json

from django.http import HttpResponse

from blasts.channels.sendgrid import events
from connext.db import without_nul
from connext.views import allow_only, message_response
from logs.models import Kind
from logs.reports import apply_reports

PROVIDER = "sendgrid"


@allow_only("POST")
def events_view(request):
    signature = request.headers.get(events.SIGNATURE_HEADER, "")
    timestamp = request.headers.get(events.TIMESTAMP_HEADER, "")
    if not events.signature_is_valid(request.body, signature, timestamp):
        return message_response("Invalid or missing SendGrid event webhook signature.", 403)
    try:
        batch = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return message_response("The body is not JSON.", 400)
    if not isinstance(batch, list):
        return message_response("The body must be a JSON array of events.", 400)
    # Applied in one transaction; SendGrid retries a whole batch, which changes nothing twice.
    apply_reports(events.reports(without_nul(batch)), provider=PROVIDER, kinds=[Kind.EMAIL])  # a NUL must not lose it
    return HttpResponse(status=204)
