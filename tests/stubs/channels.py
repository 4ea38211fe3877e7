"""The app's channels sending through the real SDKs to stubs running in this test process.

    with run_in_thread(TwilioStub) as (url, stub), channels_to(twilio_url=url):
        ...  # blasts go to the stub; its callbacks and ours are signed for HOOKS_BASE_URL

Not for the stubs' own command line: this module needs the Django settings.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.test import override_settings

from blasts.channels import reset_channels
from tests.signing import HOOKS_BASE_URL, SENDGRID_PUBLIC_KEY
from tests.stubs.sendgrid_stub import TEST_API_KEY
from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

FROM_NUMBER = "+15005550006"  # the platform's Twilio number
FROM_EMAIL = "news@acme.test"


@contextmanager
def channels_to(*, twilio_url: str | None = None, sendgrid_url: str | None = None) -> Iterator[None]:
    """Settings that route to the stubs at these URLs (a provider without one stays as it was:
    the console in tests), with the channels built afresh inside and forgotten after."""
    values = {"PUBLIC_BASE_URL": HOOKS_BASE_URL}
    if twilio_url:
        values |= {
            "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE_URL": twilio_url,
        }
    if sendgrid_url:
        values |= {
            "SENDGRID_API_KEY": TEST_API_KEY,
            "SENDGRID_FROM_EMAIL": FROM_EMAIL,
            "SENDGRID_API_BASE_URL": sendgrid_url,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": SENDGRID_PUBLIC_KEY,
        }
    with override_settings(**values):
        reset_channels()
        try:
            yield
        finally:
            reset_channels()
