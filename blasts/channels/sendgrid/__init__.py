"""SendGrid: email (`client.py`) and its signed event webhook (`views.py`, verified and parsed
into our reports by `events.py`)."""

from django.conf import settings

from logs.models import Kind

NAME = "sendgrid"
KINDS = frozenset({Kind.EMAIL})


def configured() -> bool:
    return bool(settings.SENDGRID_API_KEY and settings.SENDGRID_FROM_EMAIL)


def build():
    from blasts.channels.sendgrid.client import SendGridChannel

    return SendGridChannel(
        settings.SENDGRID_API_KEY,
        settings.SENDGRID_FROM_EMAIL,
        base_url=settings.SENDGRID_API_BASE_URL,
        rate_per_second=settings.SENDGRID_RATE_LIMIT,
    )
