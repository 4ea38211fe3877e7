"""Twilio's callbacks parsed into our reports (`logs.reports`): a message or call status, an
inbound text. The signature is checked before (`signatures.py`); nothing here touches the
database."""

from urllib.parse import parse_qsl

from blasts.channels.twilio import codes
from logs.reports import InboundText, Report, delivery_id_of

# The address prefixes of Twilio's chat channels ("whatsapp:+1555...", "rcs:+1555..." or "rcs:agent").
CHANNEL_PREFIXES = {"whatsapp:": "whatsapp", "rcs:": "rcs"}


def delivery_in(query_string: str) -> int | None:
    """Our own `?d=<delivery id>` of a status callback URL, read without building request.GET."""
    return delivery_id_of(dict(parse_qsl(query_string)).get("d", ""))


def sent_as(query_string: str) -> str:
    """`rcs` when our status callback URL says the send was an RCS one (paths.status_callback_url)."""
    return dict(parse_qsl(query_string)).get("k", "") if "k=" in query_string else ""


def fell_back(params: dict[str, str]) -> bool:
    """An RCS send's callback says the message went out as SMS/MMS: Twilio's Messaging Service
    fell back because the handset cannot take RCS (its sender is then a phone number, not an
    `rcs:` address, and ChannelPrefix, when given, is sms or mms)."""
    prefix = params.get("ChannelPrefix", "").lower()
    if prefix:
        return prefix in ("sms", "mms")
    sender = params.get("From", "")
    return bool(sender) and not sender.startswith("rcs:")


def status_report(params: dict[str, str], delivery_id: int | None, kind: str = "") -> Report | None:
    """A message or call status callback as a report on its delivery (ours, else Twilio's sid);
    None when it says nothing new (queued, accepted, ...). `kind` "rcs": the send was RCS, and a
    fallback to SMS is reported on it."""
    if "MessageStatus" in params:
        reported = params["MessageStatus"]
        sid = params.get("MessageSid") or params.get("SmsSid", "")
        status = codes.MESSAGE_STATUS.get(reported)
        code = params.get("ErrorCode", "") or reported
        text = params.get("ErrorMessage", "") or codes.ERRORS.get(code) or f"Twilio reported the message {reported}."
    else:
        reported = params.get("CallStatus", "")
        sid = params.get("CallSid", "")
        status = codes.CALL_STATUS.get(reported)
        code, text = reported, codes.CALL_FAILURES.get(reported, "")
    if status is None or (delivery_id is None and not sid):
        return None
    refusal = codes.REFUSALS.get(code) if status == codes.Status.FAILED else None
    fallback = "sms" if kind == "rcs" and fell_back(params) else ""
    return Report(delivery_id, sid, status, None, code, text, refusal, fallback)


def _address(value: str) -> tuple[str, str]:
    """("+15551234567", "whatsapp") from "whatsapp:+15551234567"; a plain number is "sms"."""
    for prefix, channel in CHANNEL_PREFIXES.items():
        if value.startswith(prefix):
            return value[len(prefix) :], channel
    return value, "sms"


def inbound_text(params: dict[str, str]) -> InboundText | None:
    """A text sent to our number; None without the MessageSid and From every one carries."""
    sid = params.get("MessageSid") or params.get("SmsSid", "")
    if not sid or not params.get("From"):
        return None
    sender, channel = _address(params["From"])
    to_number = _address(params.get("To", ""))[0]
    service = params.get("MessagingServiceSid", "")
    return InboundText(sender, to_number, params.get("Body", ""), sid, channel=channel, messaging_service_sid=service)
