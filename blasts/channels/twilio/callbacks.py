"""Twilio's callbacks parsed into our reports (`logs.reports`): a message or call status, an
inbound text. The signature is checked before (`signatures.py`); nothing here touches the
database."""

from urllib.parse import parse_qsl

from blasts.channels.twilio import codes
from logs.reports import InboundText, Report, delivery_id_of


def delivery_in(query_string: str) -> int | None:
    """Our own `?d=<delivery id>` of a status callback URL, read without building request.GET."""
    return delivery_id_of(dict(parse_qsl(query_string)).get("d", ""))


def status_report(params: dict[str, str], delivery_id: int | None) -> Report | None:
    """A message or call status callback as a report on its delivery (ours, else Twilio's sid);
    None when it says nothing new (queued, accepted, ...)."""
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
    return Report(delivery_id, sid, status, None, code, text, refusal)


def inbound_text(params: dict[str, str]) -> InboundText | None:
    """A text sent to our number; None without the MessageSid and From every one carries."""
    sid = params.get("MessageSid") or params.get("SmsSid", "")
    if not sid or not params.get("From"):
        return None
    return InboundText(
        params["From"], params.get("To", ""), params.get("Body", ""), sid, params.get("MessagingServiceSid", "")
    )
