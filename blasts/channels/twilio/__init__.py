"""Twilio: SMS, MMS and voice calls (`client.py`), WhatsApp and RCS (the same client, registered
as providers of their own: `twilio_whatsapp`, `twilio_rcs`, each with its rate limit), its
callbacks (`views.py`, parsed by `callbacks.py`, verified by `signatures.py`), its codes in our
words (`codes.py`), the URLs we give it (`paths.py`) and the TwiML we answer with (`twiml.py`)."""

from django.conf import settings

from logs.models import PHONE_KINDS, Kind

NAME = "twilio"
KINDS = frozenset(PHONE_KINDS)
WHATSAPP = "twilio_whatsapp"  # Delivery.provider holds 16 characters
WHATSAPP_KINDS = frozenset({Kind.WHATSAPP})
RCS = "twilio_rcs"
RCS_KINDS = frozenset({Kind.RCS})


def _account() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN)


def configured() -> bool:
    return _account() and bool(settings.TWILIO_FROM_NUMBER)


def whatsapp_configured() -> bool:
    return _account() and bool(settings.TWILIO_WHATSAPP_FROM)


def rcs_configured() -> bool:
    return _account() and bool(settings.TWILIO_RCS_MESSAGING_SERVICE_SID)


def _channel(**options):
    from blasts.channels.twilio.client import TwilioChannel

    return TwilioChannel(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_FROM_NUMBER,
        base_url=settings.TWILIO_API_BASE_URL,
        public_base_url=settings.PUBLIC_BASE_URL,
        concurrency=settings.DISPATCH_CONCURRENCY,
        **options,
    )


def build():
    return _channel(rate_per_second=settings.TWILIO_RATE_LIMIT)


def build_whatsapp():
    return _channel(
        name=WHATSAPP,
        kinds=WHATSAPP_KINDS,
        whatsapp_from=settings.TWILIO_WHATSAPP_FROM,
        rate_per_second=settings.TWILIO_WHATSAPP_RATE_LIMIT,
    )


def build_rcs():
    return _channel(
        name=RCS,
        kinds=RCS_KINDS,
        messaging_service_sid=settings.TWILIO_RCS_MESSAGING_SERVICE_SID,
        rate_per_second=settings.TWILIO_RCS_RATE_LIMIT,
    )
