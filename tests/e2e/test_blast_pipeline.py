"""A blast end to end: POST /blasts -> a real Celery worker process -> the real twilio and
sendgrid SDKs -> loopback stubs of their APIs, on PostgreSQL (the worker must see the rows
the test commits, so these tests need DATABASE_URL)."""

import os
import signal
import time
from collections import Counter

import pytest

from groups.models import Group
from logs.models import Delivery, Message
from subscribers.models import BlocklistEntry, Subscriber
from tests.conftest import SQLITE
from tests.factories import BlocklistEntryFactory, GroupFactory, SubscriberFactory
from tests.stubs import run_in_thread
from tests.stubs.sendgrid_stub import TEST_API_KEY, SendGridStub
from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TwilioStub

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="a worker process needs a database it can share: PostgreSQL"),
]

FROM_NUMBER = "+15005550006"


@pytest.fixture
def twilio():
    with run_in_thread(TwilioStub) as (url, stub):
        yield url, stub


@pytest.fixture
def sendgrid():
    with run_in_thread(SendGridStub) as (url, stub):
        yield url, stub


def provider_env(twilio_url: str, sendgrid_url: str, **extra) -> dict:
    return {
        "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE_URL": twilio_url,
        "SENDGRID_API_KEY": TEST_API_KEY,
        "SENDGRID_FROM_EMAIL": "news@acme.test",
        "SENDGRID_API_BASE_URL": sendgrid_url,
        "PUBLIC_BASE_URL": "https://cnxt.example",
        "DELIVERY_RETRY_BASE_SECONDS": "0.2",
        **extra,
    }


def wait_until(predicate, timeout: float = 120.0, every: float = 0.1):
    """Poll `predicate` until true; the timeout is a failure bound for a loaded CI machine, not a figure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {timeout} s")


def settled(message_id: int) -> bool:
    """Fanned out, and nothing left to send."""
    if not Message.objects.filter(pk=message_id, fanned_out_at__isnull=False).exists():
        return False
    return not Delivery.objects.filter(message_id=message_id, status__in=["queued", "sending"]).exists()


def make_people(org, count: int, group: Group) -> list[Subscriber]:
    """P0..P{count-1} of `group`: texting phones +12025550000..., emails p0@example.com... (one INSERT)."""
    people = Subscriber.objects.bulk_create(
        SubscriberFactory.build(organization=org, first=f"P{i}", phone=f"+1202555{i:04d}", email=f"p{i}@example.com",
                                text=True)
        for i in range(count)
    )  # fmt: skip
    group.subscribers.add(*people)
    return people


def test_a_blast_to_groups_goes_out_on_all_four_channels(api, org, twilio, sendgrid, start_worker):
    (twilio_url, twilio_stub), (sendgrid_url, sendgrid_stub) = twilio, sendgrid
    start_worker(**provider_env(twilio_url, sendgrid_url))
    group = GroupFactory(organization=org, name="Parents", number=1)
    make_people(org, 6, group)
    SubscriberFactory(organization=org, first="Lan", phone="+12025559999", text=False, groups=[group])  # a landline
    BlocklistEntryFactory(organization=org, recipient="p5@example.com")
    sendgrid_stub.fail("p3@example.com", (500, None, "Internal error"))

    response = api.post("/api/v1/blasts", {
        "types": ["sms", "email", "voice"], "groups": [1], "message": "Hi {first|friend}, see https://acme.test/x",
        "subject": "News for {first}", "media": [{"url": "https://cdn.acme.test/flyer.png", "type": "image/png"}],
        "shortenLinks": True,
    })  # fmt: skip
    assert response.status_code == 200, response.content
    message_id = response.json()["id"]
    wait_until(lambda: settled(message_id))

    rows = {(d.channel, d.recipient): d for d in Delivery.objects.filter(message_id=message_id)}
    # mms (sms + media) to the 6 texting phones, a call to all 7 phones, email to 5 (one blocked)
    assert Counter(channel for channel, _ in rows) == {"mms": 6, "voice": 7, "email": 5}
    assert response.json()["recipients"] == 18 == Message.objects.get(pk=message_id).recipients

    assert rows[("email", "p3@example.com")].status == "sent" and rows[("email", "p3@example.com")].attempts == 2
    ok = rows[("mms", "+12025550000")]
    assert ok.status == "sent" and ok.provider == "twilio" and ok.provider_id.startswith("SM") and ok.sent_at

    texts = {s["to"]: s for s in twilio_stub.sends if s["kind"] == "mms"}
    assert len(texts) == 6 and texts["+12025550000"]["from"] == FROM_NUMBER
    assert texts["+12025550000"]["media"] == ["https://cdn.acme.test/flyer.png"]
    assert texts["+12025550000"]["body"].startswith("Hi P0, see https://cnxt.example/l/")
    assert texts["+12025550000"]["status_callback"] == f"https://cnxt.example/hooks/twilio/status?d={ok.pk}"
    calls = {s["to"]: s for s in twilio_stub.sends if s["kind"] == "call"}
    assert len(calls) == 7 and calls["+12025559999"]["url"].startswith("https://cnxt.example/hooks/twilio/voice/")

    mails = {s["to"]: s for s in sendgrid_stub.sends}
    assert set(mails) == {f"p{i}@example.com" for i in range(5)}
    assert mails["p0@example.com"]["subject"] == "News for P0"
    assert mails["p0@example.com"]["custom_args"]["delivery_id"] == str(rows[("email", "p0@example.com")].pk)
    unsubscribe = mails["p0@example.com"]["headers"]["List-Unsubscribe"]
    assert (
        unsubscribe.startswith("<https://cnxt.example/u/")
        and unsubscribe.strip("<>") in mails["p0@example.com"]["text"]
    )
    # every recipient once per channel at the providers
    assert not [k for k, n in Counter((s["kind"], s["to"]) for s in twilio_stub.sends).items() if n > 1]
    assert not [k for k, n in Counter(s["to"] for s in sendgrid_stub.sends).items() if n > 1]


def test_provider_errors_retry_transient_and_fail_permanent(api, org, twilio, sendgrid, start_worker):
    (twilio_url, twilio_stub), (sendgrid_url, _) = twilio, sendgrid
    start_worker(**provider_env(twilio_url, sendgrid_url))
    make_people(org, 4, GroupFactory(organization=org, name="Parents", number=1))
    twilio_stub.fail("+12025550001", (400, 21211, "The 'To' number +12025550001 is not a valid phone number."))
    twilio_stub.fail("+12025550002", (503, 20500, "Service unavailable"), (429, 20429, "Too many requests", 0.3))
    twilio_stub.fail_matching("0003", 400, 21610, "Attempt to send to unsubscribed recipient")

    response = api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi"})
    message_id = response.json()["id"]
    wait_until(lambda: settled(message_id))

    rows = {d.recipient: d for d in Delivery.objects.filter(message_id=message_id)}
    assert rows["+12025550000"].status == "sent" and rows["+12025550000"].attempts == 1
    bad = rows["+12025550001"]
    assert (bad.status, bad.error_code, bad.attempts) == ("failed", "21211", 1)
    assert "not a valid phone number" in bad.error_message
    retried = rows["+12025550002"]
    assert (
        retried.status == "sent" and retried.attempts == 2 and retried.provider_id.startswith("SM")
    )  # the 429 asked us to wait: no attempt spent
    assert (retried.error_code, retried.error_message) == ("", "")  # the failed tries' errors are moot now
    stopped = rows["+12025550003"]
    assert (stopped.status, stopped.error_code) == ("failed", "21610")
    # Twilio says the number replied STOP to us: our blocklist agrees.
    assert BlocklistEntry.objects.get(organization=org, recipient="+12025550003").reason == "stop"
    assert Counter(s["to"] for s in twilio_stub.sends) == {"+12025550000": 1, "+12025550002": 1}


def test_a_worker_killed_mid_blast_loses_and_duplicates_nothing(api, org, twilio, sendgrid, start_worker):
    """SIGKILL the worker while a blast is in flight: the sweeper asks Twilio what went out,
    queues the rest again, and a second worker finishes: every recipient gets exactly one SMS."""
    (twilio_url, twilio_stub), (sendgrid_url, _) = twilio, sendgrid
    twilio_stub.configure(latency=0.05)
    env = provider_env(
        twilio_url, sendgrid_url,
        DISPATCH_BATCH_SIZE=25, DISPATCH_CONCURRENCY=10, DISPATCH_TASKS=1,
        DELIVERY_LEASE_SECONDS=3, SWEEP_STALE_SECONDS=1,
    )  # fmt: skip
    first = start_worker(**env)
    group = GroupFactory(organization=org, name="All", number=1)
    people = make_people(org, 400, group)

    response = api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi {first}"})
    assert response.status_code == 200, response.content
    message_id = response.json()["id"]
    wait_until(lambda: len(twilio_stub.sends) >= 120, every=0.01)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(10)
    at_kill = len(twilio_stub.sends)
    assert at_kill < len(people), "the blast finished before the kill: nothing was tested"
    assert Delivery.objects.filter(message_id=message_id, status__in=["queued", "sending"]).exists()

    start_worker(**env)
    from blasts.tasks import sweep_deliveries

    def swept_and_settled():
        sweep_deliveries.delay()  # what beat does every SWEEP_INTERVAL
        return settled(message_id)

    wait_until(swept_and_settled, timeout=90, every=1.0)
    per_recipient = Counter(s["to"] for s in twilio_stub.sends)
    assert set(per_recipient) == {p.phone for p in people}
    assert set(per_recipient.values()) == {1}, [to for to, n in per_recipient.items() if n > 1]
    statuses = Counter(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True))
    assert statuses == {"sent": len(people)}
    sids = {s["sid"] for s in twilio_stub.sends}
    assert set(Delivery.objects.filter(message_id=message_id).values_list("provider_id", flat=True)) == sids


def test_a_killed_workers_blast_resumes_within_a_minute_on_the_default_settings(
    api, org, twilio, sendgrid, start_worker
):
    """The operator's case: the only dispatcher's worker is SIGKILLed mid-blast and restarted;
    beat (on the default lease, heartbeat and sweep settings) wakes the blast again well within
    a minute, without waiting for the dead dispatcher's lease, and every recipient gets one SMS.
    How long each step took is printed (bench/crash_recovery.py measures it at scale)."""
    (twilio_url, twilio_stub), (sendgrid_url, _) = twilio, sendgrid
    twilio_stub.configure(latency=0.05)
    env = provider_env(twilio_url, sendgrid_url, DISPATCH_TASKS=1, DISPATCH_BATCH_SIZE=100, DISPATCH_CONCURRENCY=20)
    first = start_worker(**env)
    start_worker(beat=True, **env)
    people = make_people(org, 1500, GroupFactory(organization=org, name="All", number=1))

    response = api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi {first}"})
    message_id = response.json()["id"]
    wait_until(lambda: len(twilio_stub.sends) >= 300, every=0.01)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(10)
    killed_at = time.monotonic()
    time.sleep(0.5)  # requests the dead worker had in flight still land at the stub
    at_kill = len(twilio_stub.sends)
    assert at_kill < len(people), "the blast finished before the kill: nothing was tested"
    start_worker(**env)  # the supervisor restarts it

    wait_until(lambda: len(twilio_stub.sends) > at_kill, timeout=60, every=0.1)
    resumed = time.monotonic() - killed_at
    wait_until(lambda: settled(message_id), timeout=120, every=0.5)
    print(f"killed after {at_kill} sends; sending resumed {resumed:.1f} s after the kill, "
          f"the blast ended {time.monotonic() - killed_at:.1f} s after it")  # fmt: skip
    per_recipient = Counter(s["to"] for s in twilio_stub.sends)
    assert set(per_recipient) == {p.phone for p in people}
    assert set(per_recipient.values()) == {1}, [to for to, n in per_recipient.items() if n > 1]
    assert Counter(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True)) == {
        "sent": len(people)
    }
