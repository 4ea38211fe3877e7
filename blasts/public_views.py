"""Public, key-less pages a blast's recipients reach (the providers' hooks are their channels'):

- `GET /l/{code}`: a short link, recorded as a click and redirected;
- `GET|POST /u/{token}`: an email's unsubscribe link: GET asks, POST (the page's button, or
  RFC 8058 one-click) unsubscribes.
"""

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from blasts import unsubscribe as unsubscribe_links
from logs.clicks import link_clicked
from logs.models import Link


@require_safe
def short_link(request, code: str):
    """302 to the original URL. A GET is a click; a HEAD (link checkers, previews) only answers."""
    link = get_object_or_404(Link.objects.only("id", "url", "delivery_id"), code=code)
    if request.method == "HEAD":
        return HttpResponseRedirect(link.url)
    link_clicked(link, ip=request.META.get("REMOTE_ADDR") or None, user_agent=request.headers.get("User-Agent", ""))
    return HttpResponseRedirect(link.url)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    """GET (and HEAD) asks (mail scanners fetch every link of a message: a GET must change
    nothing); POST unsubscribes, from that page's button or a mail client's one-click (RFC 8058)."""
    target = unsubscribe_links.unsubscribe_target(token)
    if target is None:
        return HttpResponse("This unsubscribe link is not valid.", status=404, content_type="text/plain")
    org, email = target
    if request.method in ("GET", "HEAD"):
        return HttpResponse(
            f"<!doctype html><title>Unsubscribe</title><p>Stop all email from {escape(org.name)} to "
            f'{escape(email)}?</p><form method="post"><button type="submit">Unsubscribe</button></form>'
        )
    unsubscribe_links.unsubscribe(token)
    return HttpResponse(
        f"<!doctype html><title>Unsubscribed</title><p>{escape(email)} will receive no more email from "
        f"{escape(org.name)}.</p>"
    )
