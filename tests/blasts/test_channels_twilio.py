"""TwilioChannel through the real twilio SDK (async API) against the loopback Twilio stub."""

import json
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from blasts.channels import PROVIDERS, channel_for, reset_channels
from blasts.channels.base import Outgoing, Result
from blasts.channels.twilio.client import CALL_EVENTS, TwilioChannel, rebase_url
from logs.reports import Refusal
from tests.signing import twilio_signature
from tests.stubs import run_in_thread, unused_url
from tests.stubs.twilio_stub import RCS_AGENT, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TwilioStub

FROM = "+15005550006"
OURS = "https://connext.example"  # PUBLIC_BASE_URL: where Twilio calls us back
CALLBACK = f"{OURS}/hooks/twilio/status"


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
def make_channel(server, stub):
    channels = []

    def make(**kwargs) -> TwilioChannel:
        options = {"base_url": server[0], "public_base_url": OURS, **kwargs}
        channel = TwilioChannel(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FROM, **options)
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        channel.close()


@pytest.fixture
def channel(make_channel) -> TwilioChannel:
    return make_channel()


def sms(delivery_id: int, to: str, body: str = "Hello from Acme", **kwargs) -> Outgoing:
    return Outgoing(delivery_id, "sms", to, body=body, **kwargs)


# -- success ------------------------------------------------------------------------------------


def test_sms_batch_returns_one_result_per_item_in_order_with_message_sids(channel, stub):
    items = [sms(10 + i, f"+1202555010{i}", body=f"Hi {i}") for i in range(5)]

    results = channel.send_batch(items)

    assert [r.delivery_id for r in results] == [10, 11, 12, 13, 14]
    assert all(r.ok and not r.error_code for r in results)
    assert all(r.provider_id.startswith("SM") and len(r.provider_id) == 34 for r in results)
    sends = {s["sid"]: s for s in stub.sends}
    assert set(sends) == {r.provider_id for r in results}
    first = sends[results[0].provider_id]
    assert (first["kind"], first["to"], first["from"], first["body"]) == ("sms", "+12025550100", FROM, "Hi 0")
    assert first["status_callback"] == f"{CALLBACK}?d=10"  # our delivery id, signed with the URL
    assert first["media"] == []


def test_mms_carries_every_media_url(channel, stub):
    media = ("https://cdn.example/a.jpg", "https://cdn.example/b.png")
    item = Outgoing(1, "mms", "+12025550111", body="Look", media_urls=media)

    [result] = channel.send_batch([item])

    assert result.ok
    [send] = stub.sends
    assert send["kind"] == "mms"
    assert send["media"] == list(media)
    assert send["body"] == "Look"


def test_voice_call_points_twilio_at_our_twiml_with_status_callback_events(channel, stub):
    item = Outgoing(7, "voice", "+12025550122", body="spoken")

    [result] = channel.send_batch([item])

    assert result.ok and result.provider_id.startswith("CA") and len(result.provider_id) == 34
    [call] = stub.sends
    assert call["kind"] == "call"
    assert call["sid"] == result.provider_id
    assert (call["to"], call["from"]) == ("+12025550122", FROM)
    assert call["url"] == f"{OURS}/hooks/twilio/voice/7"
    assert call["status_callback"] == f"{CALLBACK}?d=7"
    assert call["status_callback_event"] == CALL_EVENTS == ["initiated", "ringing", "answered", "completed"]
    assert call["status_callback_method"] == "POST"


def test_a_batch_runs_many_requests_at_once_but_no_more_than_concurrency(make_channel, stub):
    stub.configure(latency=0.2)
    channel = make_channel(concurrency=20)
    items = [sms(i, f"+1202555{i:04d}") for i in range(50)]

    results = channel.send_batch(items)

    assert all(r.ok for r in results)
    assert 1 < stub.max_in_flight <= 20  # how fast that is: bench/provider_timing.py


def test_the_channel_sends_again_after_close(channel, stub):
    assert channel.send_batch([sms(1, "+12025550131")])[0].ok
    channel.close()
    assert channel.send_batch([sms(2, "+12025550132")])[0].ok
    assert len(stub.sends) == 2


def test_an_empty_batch_sends_nothing(channel, stub):
    assert channel.send_batch([]) == []
    assert stub.requests == 0


# -- errors -------------------------------------------------------------------------------------


def test_503_then_success_is_transient_with_retry_after_then_sent(channel, stub):
    stub.fail("+12025550141", (503, 20503, "Service Unavailable", 7), (503, 20503, "Service Unavailable"))
    item = sms(1, "+12025550141")

    first, second, third = (channel.send_batch([item])[0] for _ in range(3))

    assert (first.ok, first.transient, first.error_code, first.retry_after) == (False, True, "20503", 7.0)
    assert first.error_message == "Service Unavailable"
    assert (second.ok, second.transient, second.retry_after) == (False, True, None)
    assert third.ok and third.provider_id.startswith("SM")
    assert len(stub.sends) == 1


def test_429_with_an_http_date_retry_after(channel, stub):
    later = datetime.now(UTC) + timedelta(seconds=30)
    stub.fail("+12025550142", (429, 20429, "Too Many Requests", format_datetime(later, usegmt=True)))

    [result] = channel.send_batch([sms(1, "+12025550142")])

    assert (result.ok, result.transient, result.error_code) == (False, True, "20429")
    assert 25 <= result.retry_after <= 31


@pytest.mark.parametrize(
    ("code", "message", "refusal"),
    [
        (21211, "The 'To' number +1202555 is not a valid phone number.", None),
        (21610, "Attempt to send to unsubscribed recipient", Refusal.OPTED_OUT),
        (21614, "'To' number is not a valid mobile number", Refusal.NOT_MOBILE),
    ],
)
def test_4xx_is_a_permanent_failure_with_twilio_code_and_message(channel, stub, code, message, refusal):
    stub.fail("+12025550143", (400, code, message))

    [result] = channel.send_batch([sms(3, "+12025550143")])

    assert result == Result.failed(3, str(code), message, refusal=refusal)  # in our words too
    assert not result.transient and result.retry_after is None


def test_one_bad_recipient_does_not_spoil_the_batch(channel, stub):
    stub.fail_matching("0000", 400, 21211, "The 'To' number is not a valid phone number.")
    items = [sms(1, "+12025550001"), sms(2, "+12025550000"), sms(3, "+12025550002")]

    results = channel.send_batch(items)

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error_code == "21211"
    assert {s["to"] for s in stub.sends} == {"+12025550001", "+12025550002"}


def test_wrong_credentials_are_a_permanent_failure(server, stub):
    channel = TwilioChannel(TEST_ACCOUNT_SID, "wrong-token", FROM, base_url=server[0])
    try:
        [result] = channel.send_batch([sms(1, "+12025550144")])
    finally:
        channel.close()

    assert (result.ok, result.transient, result.error_code) == (False, False, "20003")
    assert stub.sends == []


def test_a_refused_connection_is_transient(make_channel):
    [result] = make_channel(base_url=unused_url()).send_batch([sms(1, "+12025550145")])

    assert (result.ok, result.transient, result.error_code) == (False, True, "connection_error")


def test_a_slow_answer_times_out_as_transient(make_channel, stub):
    stub.configure(latency=1.0)
    channel = make_channel(timeout=0.2)

    [result] = channel.send_batch([sms(1, "+12025550146")])

    assert (result.ok, result.transient, result.error_code) == (False, True, "timeout")


def test_a_kind_twilio_does_not_send_fails_permanently(channel, stub):
    [result] = channel.send_batch([Outgoing(1, "email", "a@example.com", body="x")])

    assert (result.ok, result.transient, result.error_code) == (False, False, "unsupported_kind")
    assert stub.requests == 0


# -- lookup -------------------------------------------------------------------------------------


def test_lookup_lists_the_sends_to_the_recipient_with_that_text_since_a_moment_newest_first(channel, stub):
    assert channel.can_lookup
    before = datetime.now(UTC) - timedelta(seconds=1)
    older, newer = (channel.send_batch([sms(i, "+12025550151")])[0].provider_id for i in (1, 2))
    channel.send_batch([sms(3, "+12025550152"), sms(4, "+12025550151", body="Another text")])

    assert channel.lookup(sms(9, "+12025550151"), before) == [newer, older]
    assert channel.lookup(sms(9, "+12025550153"), before) == []  # never sent to
    assert channel.lookup(sms(9, "+12025550151"), datetime.now(UTC) + timedelta(minutes=5)) == []
    assert channel.lookup(sms(9, "+12025550151", sender="+12025559999"), before) == []  # another sender's


def test_lookup_finds_a_message_twilio_still_holds_in_its_queue(channel, stub):
    """Twilio fills DateSent only when a message leaves its queue: a lookup by DateSent missed it,
    and the message went out twice."""
    stub.configure(hold_queued=True)
    sid = channel.send_batch([sms(1, "+12025550156")])[0].provider_id
    assert [s["date_sent"] for s in stub.sends] == [None]
    assert channel.lookup(sms(9, "+12025550156"), datetime.now(UTC) - timedelta(seconds=1)) == [sid]


def test_lookup_takes_an_aware_datetime_in_any_zone(channel, stub):
    sid = channel.send_batch([sms(1, "+12025550154")])[0].provider_id
    an_hour_ago_in_new_york = (datetime.now(UTC) - timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5)))
    in_ten_minutes_in_tokyo = (datetime.now(UTC) + timedelta(minutes=10)).astimezone(timezone(timedelta(hours=9)))

    assert channel.lookup(sms(9, "+12025550154"), an_hour_ago_in_new_york) == [sid]
    assert channel.lookup(sms(9, "+12025550154"), in_ten_minutes_in_tokyo) == []


def test_lookup_of_a_voice_item_lists_calls(channel, stub):
    before = datetime.now(UTC) - timedelta(seconds=1)
    channel.send_batch([sms(1, "+12025550155")])
    call = Outgoing(2, "voice", "+12025550155")
    call_sid = channel.send_batch([call])[0].provider_id

    assert call_sid.startswith("CA")
    assert channel.lookup(call, before) == [call_sid]


# -- the base URL override ----------------------------------------------------------------------


def test_rebase_url_moves_any_twilio_host_to_the_base_url():
    base = "http://127.0.0.1:8123"
    path = "2010-04-01/Accounts/AC1/Messages.json"
    assert rebase_url(f"https://api.twilio.com/{path}", base) == f"{base}/{path}"
    assert rebase_url(f"https://api.dublin.ie1.twilio.com/{path}", base) == f"{base}/{path}"
    assert rebase_url(f"https://api.twilio.com/{path}", None) == f"https://api.twilio.com/{path}"
    assert rebase_url("https://example.com/x", base) == "https://example.com/x"


# -- the stub itself (what other tests and the benchmark rely on) ------------------------------


class CallbackReceiver(BaseHTTPRequestHandler):
    """Our side of Twilio's callbacks: records form posts, answers TwiML."""

    received: list = []

    def do_POST(self):
        params = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        url = f"http://{self.headers['Host']}{self.path}"
        self.received.append((url, params, self.headers.get("X-Twilio-Signature")))
        body = b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hi</Say></Response>'
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    CallbackReceiver.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), CallbackReceiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", CallbackReceiver.received
    httpd.shutdown()
    httpd.server_close()


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_stub_posts_signed_status_callbacks_when_asked(make_channel, stub, receiver):
    base, received = receiver
    stub.configure(callbacks=True)
    channel = make_channel(public_base_url=base)
    [result] = channel.send_batch([Outgoing(1, "sms", "+12025550161", body="x")])

    wait_for(lambda: len(received) == 2)
    assert [p["MessageStatus"] for _, p, _ in received] == ["sent", "delivered"]
    for url, params, signature in received:
        assert params["MessageSid"] == result.provider_id
        assert signature == twilio_signature(url, params, TEST_AUTH_TOKEN)


def test_stub_fetches_the_twiml_of_a_call_and_reports_progress(make_channel, stub, receiver):
    base, received = receiver
    stub.configure(callbacks=True)
    channel = make_channel(public_base_url=base)
    [result] = channel.send_batch([Outgoing(2, "voice", "+12025550162")])

    wait_for(lambda: any(p.get("CallStatus") == "completed" for _, p, _ in received))
    assert [(urlsplit(u).path, p["CallStatus"]) for u, p, _ in received] == [
        ("/hooks/twilio/status", "initiated"),
        ("/hooks/twilio/status", "ringing"),
        ("/hooks/twilio/voice/2", "in-progress"),
        ("/hooks/twilio/status", "in-progress"),
        ("/hooks/twilio/status", "completed"),
    ]
    [send] = stub.sends
    assert send["sid"] == result.provider_id and "<Say>Hi</Say>" in send["twiml"]


def test_stub_control_routes_over_http(server, stub):
    base_url, _ = server

    def call(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None

    status, config = call(
        "POST",
        "/_stub/config",
        {"latency": 0.01, "rules": [{"suffix": "99", "status": 400, "code": 21211, "message": "bad"}]},
    )
    assert status == 200 and config["latency"] == 0.01 and config["rules"][0]["code"] == 21211
    channel = TwilioChannel(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FROM, base_url=base_url)
    try:
        results = channel.send_batch([sms(1, "+12025550199"), sms(2, "+12025550198")])
    finally:
        channel.close()
    assert [r.error_code for r in results] == ["21211", ""]

    status, sends = call("GET", "/_stub/sends")
    assert status == 200 and [s["to"] for s in sends] == ["+12025550198"]
    assert call("DELETE", "/_stub/sends") == (204, None)
    assert call("GET", "/_stub/sends") == (200, [])


def test_stub_cli_serves_in_its_own_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.stubs.twilio_stub", "--port", "0", "--latency", "0.01"],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        channel = TwilioChannel(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FROM, base_url=base_url)
        try:
            [result] = channel.send_batch([sms(1, "+12025550171")])
        finally:
            channel.close()
        assert result.ok
    finally:
        process.terminate()
        process.wait(10)


# -- WhatsApp and RCS: the same client as providers of their own ---------------------------------

WHATSAPP_FROM = "+14155238886"
SERVICE = "MG" + "a" * 32
TEMPLATE = "HX" + "b" * 32


def test_whatsapp_free_text_and_template(make_channel, stub):
    results = make_channel(name="twilio_whatsapp", whatsapp_from=WHATSAPP_FROM).send_batch([
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
    assert free["status_callback"] == f"{CALLBACK}?d=1"


def test_rcs_goes_through_the_messaging_service_and_falls_back_for_a_handset_without_rcs(make_channel, stub):
    stub.configure(no_rcs={"+12025550102"}, rcs_services={SERVICE})
    results = make_channel(name="twilio_rcs", messaging_service_sid=SERVICE).send_batch([
        Outgoing(1, "rcs", "+12025550101", "", content_sid=TEMPLATE),
        Outgoing(2, "rcs", "+12025550102", "", content_sid=TEMPLATE),
    ])  # fmt: skip
    assert all(r.ok for r in results)
    sends = {s["to"]: s for s in stub.sends}
    assert sends["+12025550101"]["kind"] == "rcs" and sends["+12025550101"]["from"] == f"rcs:{RCS_AGENT}"
    assert sends["+12025550101"]["messaging_service_sid"] == SERVICE
    assert sends["+12025550102"]["kind"] == "sms" and sends["+12025550102"]["fallback"]
    # The callback URL says it was an RCS send: its callbacks can tell a fallback.
    assert sends["+12025550101"]["status_callback"] == f"{CALLBACK}?d=1&k=rcs"


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
