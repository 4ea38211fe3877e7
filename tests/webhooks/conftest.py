"""A loopback receiver for webhook tests: verifies signatures with the standardwebhooks library."""

import time
import uuid

import pytest

from tests.stubs.server import run_in_thread
from tests.stubs.webhook_receiver import PATH, WebhookReceiver


@pytest.fixture
def receiver(settings):
    """(url, receiver): a WebhookReceiver on loopback; private addresses allowed for the test."""
    settings.ALLOW_PRIVATE_URLS = True
    with run_in_thread(WebhookReceiver) as (base_url, stub):
        yield base_url + PATH, stub


@pytest.fixture
def subscribe(api, receiver):
    """subscribe(events=None) -> the created endpoint's JSON (with its secret), pointed at the
    receiver, which verifies with its secret."""
    url, stub = receiver

    def make(events=None, client=None):
        body = {"url": url} if events is None else {"url": url, "events": events}
        response = (client or api).post("/api/v1/webhooks", body)
        assert response.status_code == 201, response.content
        stub.secrets.append(response.json()["secret"])
        return response.json()

    return make


@pytest.fixture(autouse=True)
def fresh_wake_flags(monkeypatch):
    """Wake-up flags of this test only: a flag left by an earlier test for an endpoint id the
    database hands out again would hold this test's wake-up back."""
    from webhooks import dispatch

    monkeypatch.setattr(dispatch, "WAKE_KEY_PREFIX", f"test-wake-{uuid.uuid4().hex}")


@pytest.fixture
def drain_until():
    """drain_until(endpoint id, done): run the dispatcher in this process until `done()`
    (retries come due meanwhile)."""
    from webhooks import dispatch

    def run(endpoint_id: int, done, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the events did not arrive in time"
            dispatch.drain(endpoint_id)
            time.sleep(0.05)

    return run
