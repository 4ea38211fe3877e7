"""Twilio's hooks: message and call status, inbound texts, and the TwiML of our calls.

    POST /hooks/twilio/status?d=<delivery id>   status of a message or call -> logs.reports
    POST /hooks/twilio/inbound                  a text to our number -> logs.inbound (STOP/START/HELP, replies)
    POST /hooks/twilio/voice/<delivery id>      a call asks what to say; with Digits, an IVR key press

Nothing is trusted before Twilio's signature verifies: a bad or missing one is a 403 that
changes nothing. Plain Django views, not DRF: status callbacks arrive at thousands per second,
and each is one signature check and one UPDATE (`connext.wsgi` answers the common form POST
to the status hook through `status_form` without building a request at all).

A signed callback we cannot use (unknown delivery, a status the delivery is already past, a
duplicate) still answers 2xx: Twilio cannot fix it, and an error only makes it flag our endpoint.
"""

from django.conf import settings
from django.http import HttpResponse

from blasts import rendering
from blasts.audience import is_audio
from blasts.channels.twilio import callbacks, paths
from blasts.channels.twilio.signatures import INVALID_TWILIO_SIGNATURE, signed_twilio_params, verified_twilio_form
from blasts.channels.twilio.twiml import gather_twiml, message_twiml, twiml_response, voice_twiml
from connext.views import allow_only, message_response
from logs.inbound import receive_text
from logs.models import CONTENT_KINDS, PHONE_KINDS, Delivery, Kind
from logs.reports import apply_reports, record_keypress
from subscribers.models import Subscriber

PROVIDER = "twilio"
KINDS = (*PHONE_KINDS, *CONTENT_KINDS)  # what our sends through Twilio are (sms mms voice whatsapp rcs)


def apply_status(params: dict[str, str], query_string: str) -> None:
    """A verified status callback applied to its delivery: forward only, idempotent."""
    report = callbacks.status_report(params, callbacks.delivery_in(query_string), callbacks.sent_as(query_string))
    if report is not None:
        apply_reports([report], provider=PROVIDER, kinds=KINDS)


@allow_only("POST")
def status(request):
    params = signed_twilio_params(request)
    if params is None:
        return message_response(INVALID_TWILIO_SIGNATURE, 403)
    apply_status(params, request.META.get("QUERY_STRING", ""))
    return HttpResponse(status=204)


def status_form(url: str, query_string: str, body: bytes, signature: str) -> tuple[int, str | None]:
    """`status` for `connext.wsgi`'s lean path, which posts the form here without building a
    request: (HTTP status, error message or None). Same checks, same effect."""
    params = verified_twilio_form(url, body, signature)
    if params is None:
        return 403, INVALID_TWILIO_SIGNATURE
    apply_status(params, query_string)
    return 204, None


@allow_only("POST")
def inbound(request):
    params = signed_twilio_params(request)
    if params is None:
        return message_response(INVALID_TWILIO_SIGNATURE, 403)
    text = callbacks.inbound_text(params)
    if text is None:
        return message_response("MessageSid and From are required.", 400)
    return twiml_response(message_twiml(receive_text(text)))


@allow_only("POST")
def voice(request, delivery_id: int):
    params = signed_twilio_params(request)
    if params is None:
        return message_response(INVALID_TWILIO_SIGNATURE, 403)
    delivery = Delivery.objects.select_related("message").filter(pk=delivery_id, channel=Kind.VOICE).first()
    if delivery is None:
        return message_response("Not found.", 404)
    message = delivery.message
    digits = params.get("Digits", "")
    if digits and message.ivr:
        record_keypress(delivery.pk, digits)  # one key was asked for (numDigits=1)
        return twiml_response(gather_twiml(digits[:1]))
    values = (
        Subscriber.objects.filter(pk=delivery.subscriber_id).values(*rendering.MERGE_FIELDS, "attributes").first()
        if delivery.subscriber_id
        else None
    ) or {}
    values = rendering.merge_values(values)
    audio = next((m["url"] for m in message.media if is_audio(m)), "")
    return twiml_response(
        voice_twiml(
            text=rendering.render(message.message, values),
            audio_url=audio,
            ivr=message.ivr,
            gather_action=paths.voice_url(settings.PUBLIC_BASE_URL, delivery.pk),
        )
    )
