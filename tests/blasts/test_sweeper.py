"""The sweeper after a dispatcher died: leases it held are settled by asking the provider
(here the console channel's outbox), in chunks that are kept as they are learned; one sweep
runs at a time."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from blasts import sweeper
from logs.models import Delivery
from tests.factories import ConsoleSendFactory, DeliveryFactory, MessageFactory

pytestmark = pytest.mark.django_db(transaction=True)  # lookups run in threads, on their own connections


@pytest.fixture
def dead_dispatch(org, settings):
    """120 SMS a dispatcher leased and died with: the first 70 reached the outbox, the rest not."""
    settings.TWILIO_ACCOUNT_SID = ""  # the console channel
    message = MessageFactory(organization=org)
    expired = timezone.now() - dt.timedelta(seconds=5)
    rows = DeliveryFactory.create_batch(120, message=message, status="sending", attempts=1, lease_expires_at=expired)
    for delivery in rows[:70]:
        ConsoleSendFactory(delivery=delivery)
    return message


def statuses(message) -> dict[str, int]:
    rows = Delivery.objects.filter(message=message).values_list("status", flat=True)
    return {status: list(rows).count(status) for status in set(rows)}


def test_expired_leases_are_settled_by_what_the_provider_says(dead_dispatch):
    settled = sweeper.settle_expired_leases(budget_seconds=60)
    assert (settled["recovered"], settled["requeued"]) == (70, 50)
    assert statuses(dead_dispatch) == {"sent": 70, "queued": 50}


def test_a_sweep_out_of_time_keeps_what_it_learned_and_the_next_goes_on(dead_dispatch):
    assert sweeper.settle_expired_leases(budget_seconds=0)["recovered"] == 0  # out of time at once
    assert statuses(dead_dispatch) == {"sending": 120}
    sweeper.settle_expired_leases(budget_seconds=60)
    assert statuses(dead_dispatch) == {"sent": 70, "queued": 50}


def test_one_sweep_at_a_time(dead_dispatch):
    cache.add(sweeper.sweep_lock(), 1, timeout=60)  # a sweep still running elsewhere
    try:
        assert sweeper.sweep() == {"skipped": True}
        assert statuses(dead_dispatch) == {"sending": 120}
    finally:
        cache.delete(sweeper.sweep_lock())
