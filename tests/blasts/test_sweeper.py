"""The sweeper after a dispatcher died: leases it held are settled by asking the provider
(the console channel's outbox; Twilio's message list), in chunks that are kept as they are
learned; one sweep runs at a time."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from blasts import sweeper
from blasts.channels import Outgoing, channel_for
from logs.models import Delivery
from tests.factories import ConsoleSendFactory, DeliveryFactory, MessageFactory
from tests.stubs import run_in_thread
from tests.stubs.channels import channels_to
from tests.stubs.twilio_stub import TwilioStub

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


# -- Twilio: a send is told from others by address, sender and text, and not by when it left ----


@pytest.fixture
def twilio():
    with run_in_thread(TwilioStub) as (url, stub), channels_to(twilio_url=url):
        yield stub


def dead_text(org, phone: str, text: str = "Hi") -> Delivery:
    """A text a dispatcher leased and died with, before it recorded anything."""
    expired = timezone.now() - dt.timedelta(seconds=5)
    return DeliveryFactory(message=MessageFactory(organization=org, message=text), recipient=phone,
                           status="sending", attempts=1, lease_expires_at=expired)  # fmt: skip


def send_at_twilio(phone: str, text: str = "Hi") -> str:
    """A text Twilio took from the platform's number (for whichever organization)."""
    [result] = channel_for("sms").send_batch([Outgoing(0, "sms", phone, text)])
    assert result.ok
    return result.provider_id


def test_another_organizations_recorded_text_to_the_number_is_not_ours(org, other_org, twilio):
    theirs = DeliveryFactory(message=MessageFactory(organization=other_org), recipient="+12025550161",
                             status="sent", provider="twilio", provider_id=send_at_twilio("+12025550161"))  # fmt: skip
    send_at_twilio("+12025550161", "Their other text")
    ours = dead_text(org, "+12025550161")

    settled = sweeper.settle_expired_leases(budget_seconds=60)

    assert (settled["recovered"], settled["requeued"]) == (0, 1)
    ours.refresh_from_db()
    assert (ours.status, ours.provider_id) == ("queued", "")  # sent again, not lost to their text
    assert Delivery.objects.get(pk=theirs.pk).provider_id.startswith("SM")


def test_a_text_twilio_still_holds_in_its_queue_was_sent(org, twilio):
    twilio.configure(hold_queued=True)
    sid = send_at_twilio("+12025550162")
    ours = dead_text(org, "+12025550162")

    assert sweeper.settle_expired_leases(budget_seconds=60)["recovered"] == 1
    ours.refresh_from_db()
    assert (ours.status, ours.provider_id) == ("sent", sid)  # not sent a second time


def test_sends_that_cannot_be_told_apart_fail_rather_than_go_twice(org, other_org, twilio):
    send_at_twilio("+12025550163")
    send_at_twilio("+12025550163")  # the same text twice, neither recorded: ours and someone's
    ours = dead_text(org, "+12025550163")
    twins = [dead_text(other_org, "+12025550164"), dead_text(other_org, "+12025550164")]
    send_at_twilio("+12025550164")  # one send two dead deliveries could each be

    settled = sweeper.settle_expired_leases(budget_seconds=60)

    assert (settled["recovered"], settled["requeued"], settled["failed"]) == (0, 0, 3)
    for delivery in (ours, *twins):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.error_code) == ("failed", "lease-expired")
        assert "could be this one or another's" in delivery.error_message
