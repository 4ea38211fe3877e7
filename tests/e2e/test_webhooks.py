"""Webhooks end to end: a real worker (and beat) on PostgreSQL and Redis posting to a loopback
receiver that verifies every signature with the standardwebhooks library."""

import os
import signal
import time

import pytest
from django.db import transaction

from connext import changes
from logs.models import Delivery
from subscribers.models import Subscriber
from tests.conftest import SQLITE
from tests.e2e.test_blast_pipeline import wait_until
from tests.factories import EndpointFactory, GroupFactory, SubscriberFactory
from tests.stubs import run_in_thread
from tests.stubs.webhook_receiver import PATH, WebhookReceiver
from webhooks.models import WebhookDelivery

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="a worker process needs a database it can share: PostgreSQL"),
]

FAST_RETRIES = {"WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2,0.2,0.2", "ALLOW_PRIVATE_URLS": "true",
                "CONSOLE_DELIVERY_DELAY": "0.2"}  # fmt: skip


@pytest.fixture
def receivers(settings):
    """receivers() -> (url, WebhookReceiver): loopback receivers, as many as the test asks for."""
    settings.ALLOW_PRIVATE_URLS = True
    servers = []

    def make():
        server = run_in_thread(WebhookReceiver)
        servers.append(server)
        base_url, stub = server.__enter__()
        return base_url + PATH, stub

    yield make
    for server in servers:
        server.__exit__(None, None, None)


def group_of(org, count: int, number: int = 1):
    group = GroupFactory(organization=org, name=f"All {number}", number=number)
    people = Subscriber.objects.bulk_create(
        SubscriberFactory.build(organization=org, first=f"P{i}", phone=f"+1202555{i:04d}", text=True)
        for i in range(count)
    )
    group.subscribers.add(*people)
    return people


def subscribe(api, url, stub, events):
    response = api.post("/api/v1/webhooks", {"url": url, "events": events})
    assert response.status_code == 201, response.content
    stub.secrets.append(response.json()["secret"])
    return response.json()


def test_a_blast_streams_every_sent_and_delivered_event(api, org, receivers, start_worker):
    url, stub = receivers()
    start_worker(**FAST_RETRIES)
    people = group_of(org, 300)
    subscribe(api, url, stub, ["message.sent", "message.delivered"])
    response = api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi", "externalId": "x-1"})
    assert response.status_code == 200, response.content
    wait_until(lambda: len(stub.events) == 2 * len(people))
    for event_type in ("message.sent", "message.delivered"):
        events = stub.of_type(event_type)
        assert sorted(e["data"]["recipient"] for e in events) == sorted(p.phone for p in people)
        assert {e["data"]["externalId"] for e in events} == {"x-1"}
    assert stub.unverified == 0
    # The receiver answers before the dispatcher records the answers of its last batch.
    wait_until(lambda: set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"})


def test_events_failing_three_times_arrive_exactly_once_though_the_worker_is_killed(org, receivers, start_worker):
    """1,000 events to an endpoint that fails each one's first 3 attempts; the worker is SIGKILLed
    mid-drain and restarted, beat on the default lease and sweep settings: every event arrives,
    is accepted once (the receiver dedupes by webhook-id), and is recorded delivered. How long
    the dead worker's batch waited is printed."""
    url, stub = receivers()
    stub.fail_first, stub.latency = 3, 0.02
    endpoint = EndpointFactory(organization=org, url=url)
    stub.secrets.append(endpoint.secret)
    first = start_worker(**FAST_RETRIES)
    start_worker(beat=True, **FAST_RETRIES)
    with transaction.atomic():
        changes.announce([changes.ImportFinished(org.pk, n, "done", 1, 1, 0, 0) for n in range(1000)])
    wait_until(lambda: len(stub.events) >= 200, every=0.01)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(10)
    killed_at = time.monotonic()
    time.sleep(0.2)  # what the dead worker had in flight lands
    at_kill = len(stub.events)
    assert at_kill < 1000, "every event arrived before the kill: nothing was tested"
    start_worker(**FAST_RETRIES)  # the supervisor restarts it
    wait_until(lambda: len(stub.events) > at_kill + 100, every=0.1)
    resumed = time.monotonic() - killed_at
    wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").count() == 1000)
    print(f"killed after {at_kill} events; delivery resumed {resumed:.1f} s after the kill")
    assert len(stub.events) == 1000
    assert sorted(e["data"]["importId"] for e in stub.events) == list(range(1000))
    assert stub.unverified == 0
    assert min(stub.attempts.values()) == 4  # 3 failures, then accepted


def test_a_dead_endpoint_delays_neither_sending_nor_another_organizations_events(
    api, org, other_api, other_org, receivers, start_worker
):
    """Organization A's endpoint never answers (every request times out); organization B blasts
    meanwhile: B's sends and B's events go through while A's backlog waits for its retries."""
    dead_url, dead = receivers()
    live_url, live = receivers()
    dead.latency = 30
    env = {**FAST_RETRIES, "WEBHOOK_TIMEOUT_SECONDS": "2", "WEBHOOK_RETRY_SCHEDULE": "5,5,5"}
    start_worker(queues=start_worker.queue, **env)  # sending
    start_worker(queues=start_worker.webhook_queue, **env)  # webhooks, two processes
    start_worker(queues=start_worker.webhook_queue, **env)
    subscribe(api, dead_url, dead, ["import.finished"])
    with transaction.atomic():
        changes.announce([changes.ImportFinished(org.pk, n, "done", 1, 1, 0, 0) for n in range(500)])
    wait_until(lambda: dead.max_in_flight > 0)  # A's dispatcher is stuck waiting on it
    people = group_of(other_org, 100)
    subscribe(other_api, live_url, live, ["message.delivered"])
    response = other_api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi"})
    message_id = response.json()["id"]
    wait_until(lambda: len(live.events) == len(people), timeout=60)
    assert Delivery.objects.filter(message_id=message_id, status="delivered").count() == len(people)
    assert WebhookDelivery.objects.filter(endpoint__organization=org, status="pending").count() == 500
