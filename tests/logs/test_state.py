"""The delivery state machine: statuses only move forward, twice is the same as once."""

import datetime as dt

import pytest
from django.utils import timezone

from logs import state
from logs.models import Delivery, Message
from tests.factories import DeliveryFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(org):
    return MessageFactory(organization=org)


def make(message, n=3, **fields) -> list[int]:
    """The ids of `n` new texts of `message` (queued unless `fields` say otherwise), oldest first."""
    return [d.pk for d in DeliveryFactory.create_batch(n, message=message, **fields)]


def status_of(pk):
    return Delivery.objects.get(pk=pk).status


def test_claim_leases_queued_rows_once(message):
    ids = make(message, 5)
    first, lease = state.claim(message.pk, 3, 60)
    assert first == ids[:3] and lease > timezone.now()
    second, _ = state.claim(message.pk, 10, 60)
    assert second == ids[3:]
    assert state.claim(message.pk, 10, 60) == ([], None)
    row = Delivery.objects.get(pk=ids[0])
    assert row.status == "sending" and row.attempts == 1


def test_claim_skips_rows_in_backoff(message):
    later = make(message, 1, not_before=timezone.now() + dt.timedelta(minutes=5))
    ready = make(message, 1)
    assert state.claim(message.pk, 10, 60)[0] == ready
    assert status_of(later[0]) == "queued"


def test_results_are_recorded_only_under_the_lease_that_claimed(message):
    ids = make(message, 2)
    _, old_lease = state.claim(message.pk, 10, 60)
    # The sweeper gave the rows back and another dispatcher claimed them again.
    state.requeue_unsent([(pk, old_lease) for pk in ids])
    _, new_lease = state.claim(message.pk, 10, 60)
    assert state.record_sent([(ids[0], "SM-old")], provider="twilio", lease=old_lease) == 0
    assert state.record_sent([(ids[0], "SM-new")], provider="twilio", lease=new_lease) == 1
    row = Delivery.objects.get(pk=ids[0])
    assert row.status == "sent" and row.provider_id == "SM-new" and row.sent_at and row.lease_expires_at is None


def test_retry_goes_back_to_queued_with_a_backoff(message):
    (pk,) = make(message, 1)
    _, lease = state.claim(message.pk, 1, 60)
    when = timezone.now() + dt.timedelta(seconds=30)
    assert state.record_retry([(pk, "503", "Service unavailable", when)], lease=lease) == 1
    row = Delivery.objects.get(pk=pk)
    assert row.status == "queued" and row.error_code == "503" and row.not_before == when


def test_rows_in_flight_when_their_message_is_canceled_are_canceled_not_queued_again(message):
    ids = make(message, 3)
    _, lease = state.claim(message.pk, 3, 60)  # all three in flight: cancel takes none of them
    assert state.cancel(message.pk) == 0
    Message.objects.filter(pk=message.pk).update(canceled_at=timezone.now())  # what a cancel of more rows sets
    state.record_retry([(ids[0], "503", "Service unavailable", timezone.now())], lease=lease)
    state.requeue_unsent([(ids[1], lease)])  # the sweeper: the provider never got it
    state.record_sent([(ids[2], "SM3")], provider="twilio", lease=lease)
    assert [status_of(pk) for pk in ids] == ["canceled", "canceled", "sent"]


def test_callbacks_never_move_a_status_backwards(message):
    (pk,) = make(message, 1)
    _, lease = state.claim(message.pk, 1, 60)
    state.record_sent([(pk, "SM1")], provider="twilio", lease=lease)
    first_delivered = timezone.now() - dt.timedelta(seconds=5)
    assert state.apply_status([pk], "delivered", at=first_delivered) == 1
    assert state.apply_status([pk], "sent") == 0  # late "sent"
    assert state.apply_status([pk], "failed", error_code="30003") == 0  # terminal stays
    assert state.apply_status([pk], "delivered") == 0  # duplicate
    row = Delivery.objects.get(pk=pk)
    assert row.status == "delivered" and row.delivered_at == first_delivered and row.error_code == ""


def test_a_callback_may_overtake_our_own_sent(message):
    (pk,) = make(message, 1)
    _, lease = state.claim(message.pk, 1, 60)
    assert state.apply_status([pk], "delivered") == 1
    assert state.record_sent([(pk, "SM1")], provider="twilio", lease=lease) == 0
    assert status_of(pk) == "delivered"


def test_cancel_takes_only_queued_rows(message):
    ids = make(message, 3)
    state.claim(message.pk, 1, 60)
    assert state.cancel(message.pk) == 2
    assert [status_of(pk) for pk in ids] == ["sending", "canceled", "canceled"]
    assert state.cancel(message.pk) == 0
    assert state.claim(message.pk, 10, 60) == ([], None)
