"""What keeps the callback path free of round trips when an endpoint listens: each process hears
of endpoint writes through Redis (no version read per change), and its wake-ups of the
dispatchers go out from a thread, together (no Redis call after each commit). Both need Redis."""

import time
import uuid

import pytest
from django.conf import settings

from tests.factories import EndpointFactory
from webhooks import dispatch, store, subscriptions

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="change notices and wake-up flags live in Redis")


def wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_endpoint_written_by_another_process_is_seen_after_its_notice(org):
    subscriptions.current()
    wait_for(lambda: subscriptions._listener["live"])
    before = subscriptions.current()
    assert org.pk not in before
    # Another process's write: its row (here in this test's transaction, which this process's
    # loads read) and its notice, without this process's changed().
    endpoint = EndpointFactory.build(organization=org, events=["message.sent"])
    endpoint.save()
    assert subscriptions.current() is before  # nothing heard yet: the map in memory, no reload
    heard = subscriptions._listener["notices"]
    store.put(subscriptions._version_key(), uuid.uuid4().hex, notify=subscriptions._version_key())
    wait_for(lambda: subscriptions._listener["notices"] > heard)
    assert subscriptions.wanted(subscriptions.current(), org.pk, "message.sent") == [endpoint.pk]


def test_without_a_listener_the_version_is_read_on_every_ask(org, monkeypatch):
    monkeypatch.setitem(subscriptions._listener, "live", False)
    monkeypatch.setattr(subscriptions, "_listening", lambda: False)
    assert org.pk not in subscriptions.current()
    endpoint = EndpointFactory.build(organization=org, events=["message.sent"])
    endpoint.save()
    store.put(subscriptions._version_key(), uuid.uuid4().hex)  # another process's bump, its notice lost
    assert subscriptions.wanted(subscriptions.current(), org.pk, "message.sent") == [endpoint.pk]


def test_wake_ups_of_many_commits_become_one_drain_task_per_endpoint(monkeypatch):
    queued = []
    monkeypatch.setattr(dispatch, "signature", lambda name, args: _Recorder(queued, name, args))
    endpoints = [1, 2]  # the flags are this test's (tests/webhooks/conftest.py)
    for _ in range(200):
        dispatch.wake_soon(endpoints)
    wait_for(lambda: {args[0] for _, args in queued} == set(endpoints))
    time.sleep(5 * dispatch.WAKE_COALESCE_SECONDS)
    assert sorted(args[0] for _, args in queued) == endpoints  # once each: the flag holds the rest back


class _Recorder:
    def __init__(self, queued, name, args):
        self.queued, self.name, self.args = queued, name, args

    def apply_async(self, **options):
        self.queued.append((self.name, self.args))
