"""Texts recipients send us: STOP/START/HELP keywords and replies, whichever channel brought them
(SMS, WhatsApp, RCS). A WhatsApp message also opens its sender's 24-hour session window.

A channel parses its provider's inbound message into a `logs.reports.InboundText` and answers
the provider with what `receive_text` returns (the HELP text, or nothing).
"""

import datetime as dt
import logging
import string

from django.db.models import Q
from django.utils import timezone

from connext import changes
from connext.db import retry_on_conflict
from connext.models import Organization
from logs.models import REPLY_KINDS, ChannelSession, Delivery, Kind, Reply
from logs.reports import InboundText
from subscribers.addresses import InvalidAddress, normalize_phone
from subscribers.models import BlocklistEntry, Subscriber
from subscribers.services import blocklist_add, blocklist_lift_stop

logger = logging.getLogger(__name__)

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP"})
KEYWORD_PADDING = string.whitespace + string.punctuation
DEFAULT_HELP = "{org}: reply STOP to unsubscribe, START to subscribe again. Msg & data rates may apply."
# WhatsApp's customer service window: free text is allowed this long after the recipient's last message.
SESSION_WINDOW = dt.timedelta(hours=24)


def open_sessions(channel: str, addresses: list[str]) -> set[str]:
    """Which of `addresses` wrote to us on `channel` within SESSION_WINDOW (one query)."""
    if not addresses:
        return set()
    since = timezone.now() - SESSION_WINDOW
    return set(
        ChannelSession.objects.filter(channel=channel, address__in=addresses, last_inbound_at__gte=since).values_list(
            "address", flat=True
        )
    )


def _session_opened(channel: str, phone: str) -> None:
    """The recipient wrote to us on a chat channel: its window is open from now."""
    ChannelSession.objects.update_or_create(
        channel=channel, address=phone[:32], defaults={"last_inbound_at": timezone.now()}
    )


def senders_of(text: InboundText) -> Q:
    """The organizations a text may concern, by the number it arrived on: those whose own sender
    it is (their number, their Messaging Service), else, on the platform's number, those that
    text from the platform's. So one tenant never sees another's replies or opt-outs."""
    owned = Q(pk__in=[])
    to_number = text.to_number.strip()
    if to_number:
        try:
            owned |= Q(sender_phone=normalize_phone(to_number))
        except InvalidAddress:
            owned |= Q(sender_phone=to_number)
    if text.messaging_service_sid:
        owned |= Q(messaging_service_sid=text.messaging_service_sid)
    owners = list(Organization.objects.filter(owned).values_list("id", flat=True)) if owned.children else []
    if owners:
        return Q(pk__in=owners)
    return Q(sender_phone="", messaging_service_sid="")


def _last_delivery(phone: str, senders: Q) -> dict | None:
    """The last text delivery handed to a provider for this number: what a reply answers."""
    return (
        Delivery.objects.filter(recipient=phone, channel__in=REPLY_KINDS)
        .filter(message__organization__in=Organization.objects.filter(senders))
        .exclude(sent_at=None)
        .order_by("-sent_at", "-id")
        .values("id", "message__organization_id")
        .first()
    )


def _organizations_texting(phone: str, senders: Q) -> list[Organization]:
    """Every organization (among `senders`) that has texted the number or keeps it as a
    subscriber's phone. Opt-outs are kept per sender number at the provider."""
    texted = (
        Delivery.objects.filter(recipient=phone, channel__in=REPLY_KINDS)
        .exclude(sent_at=None)
        .values_list("message__organization_id", flat=True)
    )
    kept = Subscriber.objects.filter(phone=phone).values_list("organization_id", flat=True)
    return list(Organization.objects.filter(senders).filter(Q(id__in=texted) | Q(id__in=kept)))


@retry_on_conflict()
def receive_text(text: InboundText) -> str | None:
    """An SMS a recipient sent us. Keywords (the whole message, case-insensitive, spaces and
    punctuation around it ignored: "Stop." is a STOP): STOP and its synonyms block the number
    (reason `stop`) in every organization that texts it; START and its synonyms lift those
    `stop` entries (a manual block under one stays; bounces and complaints too); HELP returns
    the help text to answer with. Anything else is stored once per provider id as a Reply to
    the last delivery sent to the number. Idempotent: a provider may post the same message again."""
    try:
        phone = normalize_phone(text.from_number)
    except InvalidAddress:
        phone = text.from_number.strip()  # a short code or sender name: nothing to block or match
    if text.channel == Kind.WHATSAPP:
        _session_opened(Kind.WHATSAPP, phone)  # any message, a keyword too, opens the window
    keyword = text.body.strip(KEYWORD_PADDING).upper()
    senders = senders_of(text)
    if keyword in STOP_WORDS:
        for org in _organizations_texting(phone, senders):
            blocklist_add(organization=org, recipient=phone, reason=BlocklistEntry.Reason.STOP)
        return None
    if keyword in START_WORDS:
        blocklist_lift_stop(phone=phone, organizations=_organizations_texting(phone, senders))
        return None
    last = _last_delivery(phone, senders)
    if keyword in HELP_WORDS:
        # The organization that texted the number last, else one that keeps it as a subscriber's phone.
        org = Organization.objects.filter(pk=last["message__organization_id"]).first() if last else None
        org = org or next(iter(_organizations_texting(phone, senders)), None)
        if org is not None and org.help_text.strip():
            return org.help_text.strip()
        return DEFAULT_HELP.format(org=org.name if org else "Connext")
    if last is None:
        logger.info("reply %s from %s: no delivery was sent to that number; not stored", text.provider_id, phone)
        return None
    reply, created = Reply.objects.get_or_create(
        provider_id=text.provider_id,
        defaults={
            "organization_id": last["message__organization_id"],
            "delivery_id": last["id"],
            "from_number": phone[:32],
            "to_number": text.to_number[:32],
            "body": text.body,
        },
    )
    if created:
        changes.announce(
            [changes.ReplyReceived(reply.pk, reply.organization_id, reply.delivery_id, reply.from_number, reply.body)]
        )
    return None
