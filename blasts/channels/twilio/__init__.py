"""Twilio: SMS, MMS and voice calls (`client.py`), its callbacks (`views.py`, parsed by
`callbacks.py`, verified by `signatures.py`), its codes in our words (`codes.py`), the URLs
we give it (`paths.py`) and the TwiML we answer with (`twiml.py`)."""

from django.conf import settings

from logs.models import PHONE_KINDS

NAME = "twilio"
KINDS = frozenset(PHONE_KINDS)


def configured() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER)


def build():
    from blasts.channels.twilio.client import TwilioChannel

    return TwilioChannel(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_FROM_NUMBER,
        base_url=settings.TWILIO_API_BASE_URL,
        public_base_url=settings.PUBLIC_BASE_URL,
        concurrency=settings.DISPATCH_CONCURRENCY,
        rate_per_second=settings.TWILIO_RATE_LIMIT,
    )
