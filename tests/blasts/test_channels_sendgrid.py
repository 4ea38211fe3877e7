"""SendGridChannel through the real sendgrid SDK against the loopback SendGrid stub."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from blasts.channels.base import Outgoing, Result
from blasts.channels.sendgrid.client import SendGridChannel
from tests.stubs import run_in_thread, unused_url
from tests.stubs.sendgrid_stub import TEST_API_KEY, SendGridStub

FROM = "Acme News <news@acme.test>"
UNSUBSCRIBE = "https://connext.example/u/abc123?o=1&s=2"


@pytest.fixture(scope="module")
def server():
    with run_in_thread(SendGridStub) as (base_url, stub):
        yield base_url, stub


@pytest.fixture
def stub(server) -> SendGridStub:
    _, stub = server
    stub.reset()
    stub.configure(latency=0.0)
    return stub


@pytest.fixture
def make_channel(server, stub):
    channels = []

    def make(**kwargs) -> SendGridChannel:
        channel = SendGridChannel(kwargs.pop("api_key", TEST_API_KEY), FROM, **{"base_url": server[0], **kwargs})
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        channel.close()


@pytest.fixture
def channel(make_channel) -> SendGridChannel:
    return make_channel()


def email(delivery_id: int, to: str, body: str = "Hello,\nthe meeting moved to 3pm.", **kwargs) -> Outgoing:
    return Outgoing(delivery_id, "email", to, body=body, subject=kwargs.pop("subject", "Schedule change"), **kwargs)


def test_each_item_is_one_mail_and_the_x_message_id_is_the_provider_id(channel, stub):
    items = [email(20 + i, f"user{i}@example.com") for i in range(3)]

    results = channel.send_batch(items)

    assert [r.delivery_id for r in results] == [20, 21, 22]
    assert all(r.ok and r.provider_id for r in results)
    by_id = {s["message_id"]: s for s in stub.sends}
    assert set(by_id) == {r.provider_id for r in results}
    sent = by_id[results[0].provider_id]
    assert sent["recipients"] == ["user0@example.com"]
    assert (sent["from"], sent["from_name"]) == ("news@acme.test", "Acme News")
    assert sent["subject"] == "Schedule change"
    assert sent["text"] == "Hello,\nthe meeting moved to 3pm."
    assert sent["custom_args"] == {"delivery_id": "20"}


def test_without_html_the_text_is_escaped_into_an_html_part_with_line_breaks(channel, stub):
    channel.send_batch([email(1, "a@example.com", body="5 < 6 & 7 > 3\nbye")])

    [sent] = stub.sends
    assert sent["html"] == "5 &lt; 6 &amp; 7 &gt; 3<br>\nbye"
    assert sent["headers"] == {}  # no unsubscribe URL, no List-Unsubscribe


def test_the_given_html_part_is_sent_as_is(channel, stub):
    channel.send_batch([email(1, "a@example.com", html="<h1>Hi</h1><p>Meeting at <b>3pm</b></p>")])

    [sent] = stub.sends
    assert sent["html"] == "<h1>Hi</h1><p>Meeting at <b>3pm</b></p>"


def test_an_unsubscribe_url_adds_one_click_headers_and_a_footer_to_both_parts(channel, stub):
    html = "<html><body><p>News</p></body></html>"
    channel.send_batch([email(1, "a@example.com", html=html, unsubscribe_url=UNSUBSCRIBE)])

    [sent] = stub.sends
    assert sent["headers"] == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert sent["text"].startswith("Hello,\nthe meeting moved to 3pm.")
    assert sent["text"].endswith(f"Unsubscribe: {UNSUBSCRIBE}")
    assert sent["html"].startswith("<html><body><p>News</p>")
    assert '<a href="https://connext.example/u/abc123?o=1&amp;s=2">Unsubscribe</a>' in sent["html"]
    assert sent["html"].endswith("</p></body></html>")  # the footer goes inside the body


def test_a_batch_runs_many_requests_at_once_but_no_more_than_concurrency(make_channel, stub):
    stub.configure(latency=0.2)
    channel = make_channel(concurrency=16)

    results = channel.send_batch([email(i, f"user{i}@example.com") for i in range(50)])

    assert all(r.ok for r in results)
    assert 1 < stub.max_in_flight <= 16  # how fast that is: bench/provider_timing.py


def test_5xx_then_success_is_transient_with_retry_after_then_sent(channel, stub):
    stub.fail("busy@example.com", (503, None, "Service Unavailable", 12), (500, None, "Internal error"))
    item = email(1, "busy@example.com")

    first, second, third = (channel.send_batch([item])[0] for _ in range(3))

    assert first == Result.failed(1, "503", "Service Unavailable", transient=True, retry_after=12.0)
    assert (second.transient, second.error_code, second.retry_after) == (True, "500", None)
    assert third.ok
    assert len(stub.sends) == 1


def test_429_with_an_http_date_retry_after(channel, stub):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    stub.fail("many@example.com", (429, None, "too many requests", later))

    [result] = channel.send_batch([email(1, "many@example.com")])

    assert (result.ok, result.transient, result.error_code) == (False, True, "429")
    assert 55 <= result.retry_after <= 61


def test_4xx_is_permanent_with_the_status_and_sendgrid_first_error_message(channel, stub):
    stub.fail_matching("@invalid.test", 400, None, "Does not contain a valid address.")

    results = channel.send_batch([email(1, "x@invalid.test"), email(2, "ok@example.com")])

    assert results[0] == Result.failed(1, "400", "Does not contain a valid address.")
    assert results[1].ok


def test_a_wrong_api_key_is_a_permanent_401(make_channel, stub):
    [result] = make_channel(api_key="SG.wrong").send_batch([email(1, "a@example.com")])

    assert (result.ok, result.transient, result.error_code) == (False, False, "401")
    assert "authorization grant is invalid" in result.error_message


def test_a_refused_connection_is_transient(make_channel):
    [result] = make_channel(base_url=unused_url()).send_batch([email(1, "a@example.com")])

    assert (result.ok, result.transient, result.error_code) == (False, True, "connection_error")


def test_a_slow_answer_times_out_as_transient(make_channel, stub):
    stub.configure(latency=1.0)
    channel = make_channel(timeout=0.2)

    [result] = channel.send_batch([email(1, "slow@example.com")])

    assert (result.ok, result.transient, result.error_code) == (False, True, "timeout")


def test_sendgrid_cannot_look_up_and_sends_only_email(channel, stub):
    assert channel.can_lookup is False
    assert channel.send_batch([]) == []

    [result] = channel.send_batch([Outgoing(1, "sms", "+12025550100", body="x")])

    assert (result.ok, result.transient, result.error_code) == (False, False, "unsupported_kind")
    assert stub.sends == []
