"""A dispatcher's lease is a heartbeat: it never outlives its rows, however slow the provider or
low its rate limit, so the sweeper never hands its rows to a second dispatcher while it sends.

Two dispatchers and the sweeper run at once here: one in a thread, the sweeper (and the
dispatchers it wakes, eagerly) in the test's thread. Transactional: the threads' connections
must see the rows.
"""

import threading
from collections import Counter

import pytest
from django.db import connections
from django.test import override_settings

from blasts import sweeper
from blasts.channels import reset_channels
from blasts.dispatch import dispatch
from logs.models import Delivery
from tests.conftest import SQLITE
from tests.factories import DeliveryFactory, MessageFactory
from tests.stubs import run_in_thread
from tests.stubs.channels import channels_to
from tests.stubs.twilio_stub import TwilioStub

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Threads writing at once: the test database of SQLite (in memory, shared cache) locks whole
    # tables and answers "table is locked" without waiting. The embedded default's file database
    # waits (busy timeout); PostgreSQL, where CI runs this, locks rows.
    pytest.mark.skipif(SQLITE, reason="concurrent writers need PostgreSQL's row locks"),
]


@pytest.fixture
def twilio():
    quick_sweeps = override_settings(RATELIMIT_STORAGE_URL="memory://", SWEEP_STALE_SECONDS=0, DISPATCH_TASKS=1)
    with run_in_thread(TwilioStub) as (url, stub), channels_to(twilio_url=url), quick_sweeps:
        yield stub


def blast(org, people: int) -> int:
    """A blast fanned out into `people` queued texts; its dispatchers are the test's to start."""
    message = MessageFactory(organization=org, recipients=people)
    DeliveryFactory.create_batch(people, message=message)
    return message.pk


def dispatch_in_thread(message_id: int) -> threading.Thread:
    def run():
        try:
            dispatch(message_id)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def sweep_while(thread: threading.Thread) -> list[dict]:
    """What beat does, as often as it can, while the first dispatcher sends."""
    sweeps = []
    while thread.is_alive():
        sweeps.append(sweeper.sweep())
        thread.join(0.1)
    return sweeps


def test_a_low_provider_rate_never_sends_a_recipient_twice(org, run_jobs, twilio):
    with override_settings(TWILIO_RATE_LIMIT=2, DELIVERY_LEASE_SECONDS=2, DELIVERY_LEASE_RENEW_SECONDS=0.3):
        reset_channels()  # the rate is the channel's
        message_id = blast(org, people=8)
        first = dispatch_in_thread(message_id)
        sweeps = run_jobs(sweep_while, first)  # the dispatchers a sweep wakes run here, beside the first
        run_jobs(sweeper.sweep)

    per_recipient = Counter(send["to"] for send in twilio.sends)
    assert len(per_recipient) == 8 and set(per_recipient.values()) == {1}, per_recipient
    assert Counter(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True)) == {"sent": 8}
    assert not any(s.get("recovered") or s.get("requeued") or s.get("failed") for s in sweeps)


def test_a_slow_provider_keeps_its_lease_while_the_sweeper_runs(org, run_jobs, twilio):
    twilio.configure(latency=2.5)  # each send outlives the lease below, several times over
    with override_settings(DELIVERY_LEASE_SECONDS=1, DELIVERY_LEASE_RENEW_SECONDS=0.15):
        message_id = blast(org, people=3)
        first = dispatch_in_thread(message_id)
        sweeps = run_jobs(sweep_while, first)

    assert sweeps and not any(s.get("recovered") or s.get("requeued") or s.get("failed") for s in sweeps)
    assert Counter(send["to"] for send in twilio.sends).most_common(1)[0][1] == 1
    assert Counter(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True)) == {"sent": 3}
