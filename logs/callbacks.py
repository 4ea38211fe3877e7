"""Provider callbacks: what Twilio and SendGrid tell us after a send, and what recipients reply.

    POST /hooks/twilio/status    message and call status  -> the state machine
    POST /hooks/twilio/inbound   STOP/START/HELP keywords -> blocklist; anything else -> a Reply
    POST /hooks/sendgrid/events  a batch of email events  -> state machine, clicks, blocklist

Nothing is trusted before the provider's own signature check passes: a bad or missing
signature is a 403 that changes nothing. Plain Django views, not DRF: status callbacks
arrive at thousands per second, and each is one signature check and one UPDATE.

A signed callback we cannot use (unknown delivery, a status the delivery is already past,
a duplicate) still answers 2xx: the provider cannot fix it, and an error only makes it
retry or flag our endpoint. One that PostgreSQL aborts as a deadlock's victim runs again
(`connext.db.retry_on_conflict`): Twilio does not retry a failed status callback.
"""

import datetime as dt
import functools
import ipaddress
import json
import logging
import string
from collections import defaultdict
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from sendgrid.helpers.eventwebhook import EventWebhook

from connext.db import retry_on_conflict, without_nul
from connext.models import Organization
from connext.views import allow_only
from logs import state
from logs.models import Click, Delivery, Reply
from logs.signatures import INVALID_TWILIO_SIGNATURE, signed_twilio_params, verified_twilio_form
from subscribers.addresses import InvalidAddress, normalize_phone
from subscribers.models import BlocklistEntry, Subscriber
from subscribers.services import blocklist_add, blocklist_lift_stop

logger = logging.getLogger(__name__)

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP"})
KEYWORD_PADDING = string.whitespace + string.punctuation
DEFAULT_HELP = "{org}: reply STOP to unsubscribe, START to subscribe again. Msg & data rates may apply."
TEXT_CHANNELS = ("sms", "mms")
# Twilio: the recipient has opted out of messages from this number (replied STOP to Twilio).
TWILIO_OPTED_OUT = "21610"
# SendGrid retries a batch for up to 72 h; a click seen within this window is not counted again.
ERROR_TEXT = 500  # characters of a provider's error message kept on the delivery

Status = Delivery.Status

# Twilio's MessageStatus and CallStatus -> ours. Absent: says nothing new (queued, accepted,
# scheduled, receiving, ...): our dispatcher already recorded the hand-over.
TWILIO_MESSAGE_STATUS = {
    "sending": Status.SENT,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.FAILED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}
TWILIO_CALL_STATUS = {
    "initiated": Status.SENT,
    "ringing": Status.SENT,
    "in-progress": Status.SENT,
    "answered": Status.SENT,
    "completed": Status.DELIVERED,
    "busy": Status.FAILED,
    "no-answer": Status.FAILED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}
CALL_FAILURES = {
    "busy": "The line was busy.",
    "no-answer": "The call was not answered.",
    "failed": "The call could not be placed.",
    "canceled": "The call was canceled before it was answered.",
}
# The common ones, for a readable error when Twilio sends only the code.
TWILIO_ERRORS = {
    "30001": "Queue overflow",
    "30002": "Account suspended",
    "30003": "Unreachable destination handset",
    "30004": "Message blocked",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered by the carrier",
    "30008": "Unknown error",
    "30034": "Message from an unregistered number (A2P 10DLC)",
    TWILIO_OPTED_OUT: "The recipient has opted out (replied STOP)",
}


def _as_id(value) -> int | None:
    """A delivery id from a query parameter or custom arg; None when it cannot be one."""
    text = str(value)
    return int(text) if text.isdigit() and len(text) < 19 else None  # below 2**63: a bigint


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def _twiml(body: str = "") -> HttpResponse:
    return HttpResponse(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>', content_type="text/xml")


# --- Twilio status ---------------------------------------------------------------


@retry_on_conflict()
def twilio_status(post: dict[str, str], delivery_id: int | None) -> int:
    """A message or call status callback applied to its delivery (by our id, else by Twilio's
    sid). Idempotent and forward only; returns the rows changed (0: unknown, stale or duplicate)."""
    if "MessageStatus" in post:
        reported = post["MessageStatus"]
        sid = post.get("MessageSid") or post.get("SmsSid", "")
        status = TWILIO_MESSAGE_STATUS.get(reported)
        code = post.get("ErrorCode", "") or reported
        text = post.get("ErrorMessage", "") or TWILIO_ERRORS.get(code) or f"Twilio reported the message {reported}."
    else:
        reported = post.get("CallStatus", "")
        sid = post.get("CallSid", "")
        status = TWILIO_CALL_STATUS.get(reported)
        code, text = reported, CALL_FAILURES.get(reported, "")
    if status is None:
        return 0
    if delivery_id is None:
        if not sid:
            return 0
        ids = list(Delivery.objects.filter(provider_id=sid).exclude(provider_id="").values_list("id", flat=True))
    else:
        ids = [delivery_id]
    now = timezone.now()  # Twilio sends no event time: the first arrival of each status is kept
    rows = [(pk, now, sid[:64], code[:32], text[:ERROR_TEXT]) for pk in ids]
    changed = state.apply_callbacks(status, rows, provider="twilio")
    if status == Status.FAILED and code == TWILIO_OPTED_OUT:
        block_opted_out(ids)
    return changed


def block_opted_out(delivery_ids: list[int]) -> None:
    """Twilio refused the send because the number replied STOP to it: our blocklist agrees."""
    rows = Delivery.objects.filter(id__in=delivery_ids).select_related("message__organization")
    for delivery in rows:
        try:
            blocklist_add(
                organization=delivery.message.organization,
                recipient=delivery.recipient,
                reason=BlocklistEntry.Reason.STOP,
            )
        except Exception:  # an address we cannot parse must not fail the callback
            logger.warning("cannot blocklist %r after Twilio 21610", delivery.recipient, exc_info=True)


def _delivery_in(query_string: str) -> int | None:
    """Our own `?d=<id>` (signed with the URL), read without building request.GET."""
    return _as_id(dict(parse_qsl(query_string)).get("d", ""))


@allow_only("POST")
def twilio_status_view(request):
    params = signed_twilio_params(request)
    if params is None:
        return _error(INVALID_TWILIO_SIGNATURE, 403)
    twilio_status(params, _delivery_in(request.META.get("QUERY_STRING", "")))
    return HttpResponse(status=204)


def twilio_status_form(url: str, query_string: str, body: bytes, signature: str) -> tuple[int, str | None]:
    """`twilio_status_view` for `connext.wsgi`'s lean path, which posts the form here without
    building a request: (HTTP status, error message or None). Same checks, same effect."""
    params = verified_twilio_form(url, body, signature)
    if params is None:
        return 403, INVALID_TWILIO_SIGNATURE
    twilio_status(params, _delivery_in(query_string))
    return 204, None


# --- Twilio inbound SMS ------------------------------------------------------------


def _last_delivery(phone: str) -> dict | None:
    """The last text delivery handed to a provider for this number: what a reply answers."""
    return (
        Delivery.objects.filter(recipient=phone, channel__in=TEXT_CHANNELS)
        .exclude(sent_at=None)
        .order_by("-sent_at", "-id")
        .values("id", "message__organization_id")
        .first()
    )


def _organizations_texting(phone: str) -> list[Organization]:
    """Every organization that has texted the number or keeps it as a subscriber's phone.
    Twilio enforces an opt-out per sender number, and every organization sends from ours."""
    texted = (
        Delivery.objects.filter(recipient=phone, channel__in=TEXT_CHANNELS)
        .exclude(sent_at=None)
        .values_list("message__organization_id", flat=True)
    )
    kept = Subscriber.objects.filter(phone=phone).values_list("organization_id", flat=True)
    return list(Organization.objects.filter(Q(id__in=texted) | Q(id__in=kept)))


@retry_on_conflict()
def inbound_sms(*, from_number: str, to_number: str, body: str, sid: str) -> str | None:
    """An SMS a recipient sent us. Keywords (the whole message, case-insensitive, spaces and
    punctuation around it ignored: "Stop." is a STOP): STOP and its synonyms block the number
    (reason `stop`) in every organization that texts it; START and its synonyms lift those
    `stop` entries (a manual block under one stays; bounces and complaints too); HELP returns the help text
    to answer with. Anything else is stored once per MessageSid as a Reply to the last delivery
    sent to the number. Idempotent: Twilio may post the same message again."""
    try:
        phone = normalize_phone(from_number)
    except InvalidAddress:
        phone = from_number.strip()  # a short code or sender name: nothing to block or match
    keyword = body.strip(KEYWORD_PADDING).upper()
    if keyword in STOP_WORDS:
        for org in _organizations_texting(phone):
            blocklist_add(organization=org, recipient=phone, reason=BlocklistEntry.Reason.STOP)
        return None
    if keyword in START_WORDS:
        blocklist_lift_stop(phone=phone, organizations=_organizations_texting(phone))
        return None
    last = _last_delivery(phone)
    if keyword in HELP_WORDS:
        # The organization that texted the number last, else one that keeps it as a subscriber's phone.
        org = Organization.objects.filter(pk=last["message__organization_id"]).first() if last else None
        org = org or next(iter(_organizations_texting(phone)), None)
        if org is not None and org.help_text.strip():
            return org.help_text.strip()
        return DEFAULT_HELP.format(org=org.name if org else "Connext")
    if last is None:
        logger.info("reply %s from %s: no delivery was sent to that number; not stored", sid, phone)
        return None
    Reply.objects.get_or_create(
        provider_id=sid,
        defaults={
            "organization_id": last["message__organization_id"],
            "delivery_id": last["id"],
            "from_number": phone[:32],
            "to_number": to_number[:32],
            "body": body,
        },
    )
    return None


@allow_only("POST")
def twilio_inbound_view(request):
    post = signed_twilio_params(request)
    if post is None:
        return _error(INVALID_TWILIO_SIGNATURE, 403)
    sid = post.get("MessageSid") or post.get("SmsSid", "")
    if not sid or not post.get("From"):
        return _error("MessageSid and From are required.", 400)
    answer = inbound_sms(from_number=post["From"], to_number=post.get("To", ""), body=post.get("Body", ""), sid=sid)
    return _twiml(f"<Message>{escape(answer)}</Message>" if answer else "")


# --- SendGrid events ---------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _sendgrid_verifier(public_key: str) -> EventWebhook:
    return EventWebhook(public_key)


def sendgrid_request_is_valid(request) -> bool:
    """SendGrid's signed event webhook: ECDSA (P-256, SHA-256) over timestamp + raw body,
    checked with the SDK's EventWebhook and the public key of SENDGRID_WEBHOOK_PUBLIC_KEY.
    No key configured: nothing can be verified, so nothing is accepted."""
    key = settings.SENDGRID_WEBHOOK_PUBLIC_KEY
    signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
    timestamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    if not key or not signature or not timestamp:
        return False
    try:
        verifier = _sendgrid_verifier(key)
        return verifier.verify_signature(request.body.decode("utf-8"), signature, timestamp)
    except ValueError:  # includes binascii.Error (signature not base64) and UnicodeDecodeError
        return False
    except Exception:  # a key that does not load is a configuration error, not a forgery
        logger.exception("SENDGRID_WEBHOOK_PUBLIC_KEY cannot verify signatures")
        return False


def _event_time(event: dict) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(event["timestamp"]), tz=dt.UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


def _ip(value) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _dropped_reason(reason: str) -> str | None:
    """The blocklist reason a `dropped` event implies: SendGrid drops mail to addresses on its
    own suppression lists ("Bounced Address", "Spam Reporting Address", "Unsubscribed Address")."""
    reason = reason.lower()
    if reason.startswith("bounced address") or reason.startswith("invalid"):
        return BlocklistEntry.Reason.BOUNCE
    if reason.startswith("spam reporting address"):
        return BlocklistEntry.Reason.COMPLAINT
    if reason.startswith("unsubscribed address"):
        return BlocklistEntry.Reason.STOP
    return None


@retry_on_conflict()
def sendgrid_events(events: list) -> dict[str, int]:
    """A batch of SendGrid events, applied in one transaction: `delivered` and `bounce`/`dropped`
    through the state machine (one UPDATE per status), a `Click` row and `clicks` + 1 per `click`,
    the blocklist for hard bounces (`bounce`), spam reports (`complaint`) and unsubscribes (`stop`).
    `open`, `processed`, `deferred` and unknown events are accepted and ignored.

    Idempotent across SendGrid's whole-batch retries: statuses and the blocklist are by nature;
    a click is counted once per `sg_event_id` (stored with the click, unique).
    Events for deliveries we do not know are skipped. Returns counts per kind of outcome."""
    events = [e for e in events if isinstance(e, dict) and isinstance(e.get("event"), str)]
    ids, message_ids = set(), set()
    for event in events:
        if (delivery_id := _as_id(event.get("delivery_id", ""))) is not None:
            ids.add(delivery_id)
        elif event.get("sg_message_id"):
            message_ids.add(str(event["sg_message_id"]).split(".")[0])
    if not ids and not message_ids:
        return {}
    known = {}
    by_provider_id = {}
    rows = Delivery.objects.filter(
        Q(id__in=ids) | Q(provider_id__in=message_ids, channel="email") & ~Q(provider_id="")
    ).values("id", "provider_id", "recipient", "message__organization_id")
    for row in rows:
        known[row["id"]] = row
        if row["provider_id"]:
            by_provider_id[row["provider_id"]] = row

    statuses: dict[str, dict[int, tuple]] = defaultdict(dict)
    blocks: set[tuple[int, str, str]] = set()
    clicks: list[Click] = []
    for event in events:
        kind = event["event"]
        message_id = str(event.get("sg_message_id", "")).split(".")[0]
        delivery_id = _as_id(event.get("delivery_id", ""))
        row = known.get(delivery_id) if delivery_id is not None else by_provider_id.get(message_id)
        if row is None:
            continue
        at, reason = _event_time(event), str(event.get("reason", ""))
        status, code, block = None, "", None
        if kind == "delivered":
            status = Status.DELIVERED
        elif kind == "bounce":
            status, code = Status.FAILED, str(event.get("status", "")) or kind
            # type "blocked": refused for now (IP reputation, content), not a dead address.
            block = BlocklistEntry.Reason.BOUNCE if event.get("type", "bounce") == "bounce" else None
        elif kind == "dropped":
            status, code, block = Status.FAILED, kind, _dropped_reason(reason)
        elif kind == "spamreport":
            block = BlocklistEntry.Reason.COMPLAINT
        elif kind in ("unsubscribe", "group_unsubscribe"):
            block = BlocklistEntry.Reason.STOP
        elif kind == "click":
            click = Click(
                delivery_id=row["id"],
                event_id=str(event.get("sg_event_id", ""))[:100],
                url=str(event.get("url", "")),
                ip=_ip(event.get("ip")),
                user_agent=str(event.get("useragent", ""))[:255],
            )
            clicks.append(click)
        if status is not None:
            earlier = statuses[status].get(row["id"])
            if earlier is None or at < earlier[1]:
                statuses[status][row["id"]] = (row["id"], at, message_id[:64], code[:32], (reason or kind)[:ERROR_TEXT])
        if block is not None:
            blocks.add((row["message__organization_id"], row["recipient"], block))

    counts = defaultdict(int)
    with transaction.atomic():
        for status in (Status.SENT, Status.DELIVERED, Status.FAILED):  # the machine's order
            counts[status] += state.apply_callbacks(status, list(statuses[status].values()), provider="sendgrid")
        _block_all(blocks)
        counts["blocked"] = len(blocks)
        counts["clicks"] = _count_clicks(clicks)
    return dict(counts)


def _block_all(blocks: set[tuple[int, str, str]]) -> None:
    orgs = Organization.objects.in_bulk({org_id for org_id, _, _ in blocks})
    for org_id, recipient, reason in sorted(blocks):
        try:
            blocklist_add(organization=orgs[org_id], recipient=recipient, reason=reason)
        except Exception:  # one address we cannot parse must not fail (and retry) the batch
            logger.warning("cannot blocklist %r (%s)", recipient, reason, exc_info=True)


def _count_clicks(clicks: list[Click]) -> int:
    """Store the clicks not stored yet (by event id) and add them to their deliveries' `clicks`.
    Returns how many were new. A concurrent post of the same events fails on the unique event
    id and rolls back; SendGrid then retries, and they are found stored."""
    event_ids = {click.event_id for click in clicks if click.event_id}
    seen = set(Click.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True)) if event_ids else set()
    new = []
    for click in clicks:
        if click.event_id:
            if click.event_id in seen:
                continue  # counted when SendGrid first posted it
            seen.add(click.event_id)
        new.append(click)
    if not new:
        return 0
    Click.objects.bulk_create(new)
    per_delivery: dict[int, int] = defaultdict(int)
    for click in new:
        per_delivery[click.delivery_id] += 1
    by_count: dict[int, list[int]] = defaultdict(list)
    for delivery_id, n in per_delivery.items():
        by_count[n].append(delivery_id)
    for n, delivery_ids in by_count.items():  # one UPDATE per distinct count, usually one
        Delivery.objects.filter(id__in=delivery_ids).update(clicks=F("clicks") + n)
    return len(new)


@allow_only("POST")
def sendgrid_events_view(request):
    if not sendgrid_request_is_valid(request):
        return _error("Invalid or missing SendGrid event webhook signature.", 403)
    try:
        events = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return _error("The body is not JSON.", 400)
    if not isinstance(events, list):
        return _error("The body must be a JSON array of events.", 400)
    sendgrid_events(without_nul(events))  # one bad field must not lose the batch
    return HttpResponse(status=204)
