"""WhatsApp and RCS through the real twilio SDK against the loopback Twilio stub: the addresses, free
text or a Content template, the Messaging Service and its SMS fallback, the status callback URL."""

import json

import pytest

from blasts.channels import PROVIDERS, channel_for, reset_channels
from blasts.channels.base import Outgoing
from blasts.channels.twilio.client import TwilioChannel
from tests.stubs import run_in_thread
from tests.stubs.twilio_stub import RCS_AGENT, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TwilioStub

FROM = "+15005550006"
WHATSAPP_FROM = "+14155238886"
SERVICE = "MG" + "a" * 32
OURS = "https://connext.example"
TEMPLATE = "HX" + "b" * 32


@pytest.fixture(scope="module")
def server():
    with run_in_thread(TwilioStub) as (base_url, stub):
        yield base_url, stub


@pytest.fixture
def stub(server) -> TwilioStub:
    _, stub = server
    stub.reset()
    stub.configure(latency=0.0, callbacks=False)
    return stub


@pytest.fixture
def channel(server, stub):
    made = []

    def make(**kwargs) -> TwilioChannel:
        options = {"base_url": server[0], "public_base_url": OURS, "whatsapp_from": WHATSAPP_FROM,
                   "messaging_service_sid": SERVICE, **kwargs}  # fmt: skip
        made.append(TwilioChannel(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FROM, **options))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_whatsapp_free_text_and_template(channel, stub):
    results = channel(name="twilio_whatsapp").send_batch([
        Outgoing(1, "whatsapp", "+12025550101", "Hi Ada"),
        Outgoing(2, "whatsapp", "+12025550102", "", content_sid=TEMPLATE, content_variables='{"1": "Bob"}'),
    ])  # fmt: skip
    assert all(r.ok and r.provider_id.startswith("SM") for r in results)
    sends = {s["to"]: s for s in stub.sends}
    free, template = sends["whatsapp:+12025550101"], sends["whatsapp:+12025550102"]
    assert (free["kind"], free["from"], free["body"], free["content_sid"]) == (
        "whatsapp", f"whatsapp:{WHATSAPP_FROM}", "Hi Ada", ""
    )  # fmt: skip
    assert (template["body"], template["content_sid"]) == ("", TEMPLATE)
    assert json.loads(template["content_variables"]) == {"1": "Bob"}
    assert free["status_callback"] == f"{OURS}/hooks/twilio/status?d=1"


def test_rcs_goes_through_the_messaging_service_and_falls_back_for_a_handset_without_rcs(channel, stub):
    stub.configure(no_rcs={"+12025550102"})
    results = channel(name="twilio_rcs").send_batch([
        Outgoing(1, "rcs", "+12025550101", "", content_sid=TEMPLATE),
        Outgoing(2, "rcs", "+12025550102", "", content_sid=TEMPLATE),
    ])  # fmt: skip
    assert all(r.ok for r in results)
    sends = {s["to"]: s for s in stub.sends}
    assert sends["+12025550101"]["kind"] == "rcs" and sends["+12025550101"]["from"] == f"rcs:{RCS_AGENT}"
    assert sends["+12025550101"]["messaging_service_sid"] == SERVICE
    assert sends["+12025550102"]["kind"] == "sms" and sends["+12025550102"]["fallback"]
    # The callback URL says it was an RCS send: its callbacks can tell a fallback.
    assert sends["+12025550101"]["status_callback"] == f"{OURS}/hooks/twilio/status?d=1&k=rcs"


def test_whatsapp_and_rcs_are_providers_of_their_own_with_their_rate_limits(settings, server):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TEST_ACCOUNT_SID, TEST_AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER, settings.TWILIO_API_BASE_URL = FROM, server[0]
    settings.TWILIO_WHATSAPP_FROM, settings.TWILIO_RCS_MESSAGING_SERVICE_SID = WHATSAPP_FROM, SERVICE
    settings.TWILIO_RATE_LIMIT, settings.TWILIO_WHATSAPP_RATE_LIMIT, settings.TWILIO_RCS_RATE_LIMIT = 30, 20, 10
    reset_channels()
    try:
        chosen = {kind: channel_for(kind) for kind in ("sms", "whatsapp", "rcs")}
        assert {k: (c.name, c.rate_per_second) for k, c in chosen.items()} == {
            "sms": ("twilio", 30), "whatsapp": ("twilio_whatsapp", 20), "rcs": ("twilio_rcs", 10)
        }  # fmt: skip
        assert all(len(name) <= 16 for name in PROVIDERS)  # Delivery.provider
        settings.TWILIO_WHATSAPP_FROM = ""
        reset_channels()
        assert channel_for("whatsapp").name == "console"  # not set up: the embedded default
    finally:
        reset_channels()
