"""Public, key-less endpoints a blast's recipients and providers reach:

- `POST /hooks/twilio/voice/{delivery id}`: the TwiML of a call (Twilio-signed);
  with `Digits`, the IVR keypress is recorded on the delivery;
- `GET /l/{code}`: a short link, recorded as a click and redirected;
- `GET|POST /u/{token}`: an email's unsubscribe link: GET asks, POST (the page's button, or
  RFC 8058 one-click) unsubscribes.
"""

from django.db.models import F
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from blasts import rendering, services
from blasts.audience import is_audio
from blasts.channels.twiml import gather_twiml, voice_twiml
from connext.views import allow_only
from logs.models import Click, Delivery, Link
from logs.signatures import INVALID_TWILIO_SIGNATURE, signed_twilio_params
from subscribers.models import Subscriber


def _twiml(xml: str) -> HttpResponse:
    return HttpResponse(xml, content_type="application/xml")


@allow_only("POST")
def twilio_voice(request, delivery_id: int):
    params = signed_twilio_params(request)
    if params is None:
        return JsonResponse({"message": INVALID_TWILIO_SIGNATURE}, status=403)
    delivery = Delivery.objects.select_related("message").filter(pk=delivery_id, channel="voice").first()
    if delivery is None:
        return JsonResponse({"message": "Not found."}, status=404)
    digits = params.get("Digits", "")
    if digits and delivery.message.ivr:
        # One key was asked for (numDigits=1), and the first answer counts.
        Delivery.objects.filter(pk=delivery.pk, digits="").update(digits=digits[:1])
        return _twiml(gather_twiml(digits[:1]))
    message = delivery.message
    values = (
        Subscriber.objects.filter(pk=delivery.subscriber_id).values(*rendering.MERGE_FIELDS).first()
        if delivery.subscriber_id
        else None
    ) or {}
    audio = next((m["url"] for m in message.media if is_audio(m)), "")
    return _twiml(
        voice_twiml(
            text=rendering.render(message.message, values),
            audio_url=audio,
            ivr=message.ivr,
            gather_action=services.voice_url(delivery.pk),
        )
    )


@require_safe
def short_link(request, code: str):
    """302 to the original URL. A GET is a click; a HEAD (link checkers, previews) only answers."""
    link = get_object_or_404(Link.objects.only("id", "url", "delivery_id"), code=code)
    if request.method == "HEAD":
        return HttpResponseRedirect(link.url)
    Click.objects.create(
        link=link,
        delivery_id=link.delivery_id,
        url=link.url,
        ip=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.headers.get("User-Agent", "")[:255],
    )
    Delivery.objects.filter(pk=link.delivery_id).update(clicks=F("clicks") + 1)
    return HttpResponseRedirect(link.url)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    """GET (and HEAD) asks (mail scanners fetch every link of a message: a GET must change
    nothing); POST unsubscribes, from that page's button or a mail client's one-click (RFC 8058)."""
    target = services.unsubscribe_target(token)
    if target is None:
        return HttpResponse("This unsubscribe link is not valid.", status=404, content_type="text/plain")
    org, email = target
    if request.method in ("GET", "HEAD"):
        return HttpResponse(
            f"<!doctype html><title>Unsubscribe</title><p>Stop all email from {escape(org.name)} to "
            f'{escape(email)}?</p><form method="post"><button type="submit">Unsubscribe</button></form>'
        )
    services.unsubscribe(token)
    return HttpResponse(
        f"<!doctype html><title>Unsubscribed</title><p>{escape(email)} will receive no more email from "
        f"{escape(org.name)}.</p>"
    )
