"""Which provider sends which kind of delivery.

Twilio takes sms/mms/voice and SendGrid email once their credentials are set;
anything without credentials goes to the console channel, so the embedded
default sends (to its outbox) with nothing configured.
"""

from django.conf import settings

from blasts.channels.base import Channel, Outgoing, Result
from blasts.channels.console import ConsoleChannel

__all__ = ["Channel", "Outgoing", "Result", "channel_for", "channel_named", "reset_channels"]

PHONE_KINDS = frozenset({"sms", "mms", "voice"})


def twilio_configured() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER)


def sendgrid_configured() -> bool:
    return bool(settings.SENDGRID_API_KEY and settings.SENDGRID_FROM_EMAIL)


_instances: dict[str, Channel] = {}


def channel_named(name: str) -> Channel:
    """One instance per provider and process (they hold connection pools)."""
    if name not in _instances:
        _instances[name] = _build(name)
    return _instances[name]


def _build(name: str) -> Channel:
    if name == "twilio":
        from blasts.channels.twilio import TwilioChannel

        return TwilioChannel(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            settings.TWILIO_FROM_NUMBER,
            base_url=settings.TWILIO_API_BASE_URL,
            concurrency=settings.DISPATCH_CONCURRENCY,
            rate_per_second=settings.TWILIO_RATE_LIMIT,
        )
    if name == "sendgrid":
        from blasts.channels.sendgrid import SendGridChannel

        return SendGridChannel(
            settings.SENDGRID_API_KEY,
            settings.SENDGRID_FROM_EMAIL,
            base_url=settings.SENDGRID_API_BASE_URL,
            rate_per_second=settings.SENDGRID_RATE_LIMIT,
        )
    if name == "console":
        return ConsoleChannel()
    raise LookupError(f"No channel named {name!r}.")


def channel_for(kind: str) -> Channel:
    if kind in PHONE_KINDS and twilio_configured():
        return channel_named("twilio")
    if kind == "email" and sendgrid_configured():
        return channel_named("sendgrid")
    return channel_named("console")


def reset_channels() -> None:
    """Close and forget the instances (settings changed: tests)."""
    while _instances:
        _instances.popitem()[1].close()
