"""Timings the channel tests check only by their outcome (tests assert no durations):

- concurrency: 50 sends to a provider stub answering in 0.2 s each, through the real SDKs
  (Twilio's async client, 20 in flight; SendGrid's thread pool, 16): one after the other
  they would take 10 s;
- a timeout: Twilio's client with a 0.2 s timeout against a stub answering in 1 s;
- the per-provider rate: 12 sends at 5/s, counted per clock second.

    .venv/bin/python bench/provider_timing.py

Runs on the embedded default (no database, no Redis: the rate limit counts in memory).
"""

import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connext.settings")
os.environ.setdefault("ALLOW_DEVELOPMENT_SECRET_KEY", "true")  # the development SECRET_KEY, DEBUG off
os.environ["RATELIMIT_STORAGE_URL"] = "memory://"

import django  # noqa: E402

django.setup()

from blasts.channels.base import Channel, Outgoing  # noqa: E402
from blasts.channels.sendgrid.client import SendGridChannel  # noqa: E402
from blasts.channels.twilio.client import TwilioChannel  # noqa: E402
from blasts.dispatch import _rate_limited  # noqa: E402
from tests.stubs import run_in_thread  # noqa: E402
from tests.stubs.sendgrid_stub import TEST_API_KEY, SendGridStub  # noqa: E402
from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TwilioStub  # noqa: E402

SENDS, LATENCY = 50, 0.2


def timed(send) -> tuple[float, list]:
    start = time.perf_counter()
    results = send()
    return time.perf_counter() - start, results


def concurrent(name: str, channel, stub, items: list[Outgoing]) -> None:
    """One batch through `channel` to a stub answering each request in LATENCY seconds."""
    try:
        seconds, results = timed(lambda: channel.send_batch(items))
    finally:
        channel.close()
    print(f"{name}: {len(items)} sends at {LATENCY} s, {channel.concurrency} in flight: {seconds:.2f} s "
          f"({sum(r.ok for r in results)} sent, at most {stub.max_in_flight} in flight at the stub; "
          f"one by one: {len(items) * LATENCY:.0f} s)")  # fmt: skip


def twilio() -> None:
    with run_in_thread(TwilioStub) as (url, stub):
        stub.configure(latency=LATENCY)
        channel = TwilioChannel(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, "+15005550006", base_url=url, concurrency=20)
        concurrent("twilio", channel, stub, [Outgoing(i, "sms", f"+1202555{i:04d}", body="Hi") for i in range(SENDS)])
        stub.configure(latency=1.0)
        channel = TwilioChannel(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, "+15005550006", base_url=url, timeout=0.2)
        try:
            seconds, [result] = timed(lambda: channel.send_batch([Outgoing(1, "sms", "+12025550146", body="x")]))
            print(f"twilio: timeout 0.2 s against a 1 s answer: {result.error_code} after {seconds:.2f} s")
        finally:
            channel.close()


def sendgrid() -> None:
    with run_in_thread(SendGridStub) as (url, stub):
        stub.configure(latency=LATENCY)
        channel = SendGridChannel(TEST_API_KEY, "news@acme.test", base_url=url, concurrency=16)
        items = [Outgoing(i, "email", f"user{i}@example.com", body="Hi", subject="Hi") for i in range(SENDS)]
        concurrent("sendgrid", channel, stub, items)


class FivePerSecond(Channel):
    name = "bench-rate"
    rate_per_second = 5


def rate_limit() -> None:
    items = [Outgoing(i, "sms", f"+1202555{i:04d}") for i in range(12)]
    per_second: Counter = Counter()
    start = time.perf_counter()
    for chunk in _rate_limited(FivePerSecond(), items):
        per_second[int(time.time())] += len(chunk)
    seconds = time.perf_counter() - start
    print(f"rate limit 5/s: 12 sends over {seconds:.2f} s, per clock second {sorted(per_second.values())}")


if __name__ == "__main__":
    twilio()
    sendgrid()
    rate_limit()
