"""SendGrid's event webhook: its ECDSA signature, and its events in our words (`logs.reports`).

`delivered` and `bounce`/`dropped` are statuses; hard bounces, spam reports and unsubscribes
are refusals (the blocklist); a `click` is a tracked click. `open`, `processed`, `deferred` and
events we do not know say nothing we keep. Our delivery id comes back as the `delivery_id`
custom arg of the mail (`client.build_mail`); older events name only SendGrid's message id.
"""

import datetime as dt
import functools
import ipaddress
import logging
import time

from django.conf import settings
from django.utils import timezone
from sendgrid.helpers.eventwebhook import EventWebhook

from logs.models import Delivery
from logs.reports import ClickReport, Refusal, Report, delivery_id_of

logger = logging.getLogger(__name__)

Status = Delivery.Status
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE = dt.timedelta(minutes=10)  # how far a signed timestamp may be from our clock, either way


@functools.lru_cache(maxsize=4)
def _verifier(public_key: str) -> EventWebhook:
    return EventWebhook(public_key)


def signature_is_valid(body: bytes, signature: str, timestamp: str) -> bool:
    """ECDSA (P-256, SHA-256) over timestamp + raw body, checked with the SDK's EventWebhook and
    the public key of SENDGRID_WEBHOOK_PUBLIC_KEY, and a timestamp within MAX_AGE of now either
    way: a captured batch cannot be replayed later (clicks without an event id would count
    again, removed bounces come back). No key configured: nothing can be verified, so nothing is
    accepted."""
    key = settings.SENDGRID_WEBHOOK_PUBLIC_KEY
    if not key or not signature or not timestamp or not _fresh(timestamp):
        return False
    try:
        return _verifier(key).verify_signature(body.decode("utf-8"), signature, timestamp)
    except ValueError:  # includes binascii.Error (signature not base64) and UnicodeDecodeError
        return False
    except Exception:  # a key that does not load is a configuration error, not a forgery
        logger.exception("SENDGRID_WEBHOOK_PUBLIC_KEY cannot verify signatures")
        return False


def _fresh(timestamp: str) -> bool:
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(time.time() - sent) <= MAX_AGE.total_seconds()


def reports(events: list) -> list[Report | ClickReport]:
    """The reports of a batch of events, in order; events that say nothing we keep are left out."""
    out = []
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            report = _report(event)
            if report is not None:
                out.append(report)
    return out


def _report(event: dict) -> Report | ClickReport | None:
    kind = event["event"]
    delivery_id = delivery_id_of(event.get("delivery_id", ""))
    message_id = str(event.get("sg_message_id", "")).split(".")[0]
    if delivery_id is None and not message_id:
        return None
    if kind == "click":
        return ClickReport(
            delivery_id,
            message_id,
            url=str(event.get("url", "")),
            ip=_ip(event.get("ip")),
            user_agent=str(event.get("useragent", "")),
            event_id=str(event.get("sg_event_id", "")),
        )
    reason = str(event.get("reason", ""))
    status, code, refusal = None, "", None
    if kind == "delivered":
        status = Status.DELIVERED
    elif kind == "bounce":
        status, code = Status.FAILED, str(event.get("status", "")) or kind
        # type "blocked": refused for now (IP reputation, content), not a dead address.
        refusal = Refusal.BOUNCE if event.get("type", "bounce") == "bounce" else None
    elif kind == "dropped":
        status, code, refusal = Status.FAILED, kind, _dropped_refusal(reason)
    elif kind == "spamreport":
        refusal = Refusal.COMPLAINT
    elif kind in ("unsubscribe", "group_unsubscribe"):
        refusal = Refusal.OPTED_OUT
    if status is None and refusal is None:
        return None
    return Report(delivery_id, message_id, status, _event_time(event), code, reason or kind, refusal)


def _dropped_refusal(reason: str) -> Refusal | None:
    """What a `dropped` event says of the address: SendGrid drops mail to addresses on its own
    suppression lists ("Bounced Address", "Spam Reporting Address", "Unsubscribed Address")."""
    reason = reason.lower()
    if reason.startswith("bounced address") or reason.startswith("invalid"):
        return Refusal.BOUNCE
    if reason.startswith("spam reporting address"):
        return Refusal.COMPLAINT
    if reason.startswith("unsubscribed address"):
        return Refusal.OPTED_OUT
    return None


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
