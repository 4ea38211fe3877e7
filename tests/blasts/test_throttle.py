"""A provider that throttles (429 with Retry-After) has not refused the send: waiting costs no
attempt, so a throttle longer than DELIVERY_MAX_ATTEMPTS tries never fails the blast."""

import pytest
from django.test import override_settings

from blasts.dispatch import dispatch
from logs.models import Delivery
from tests.factories import DeliveryFactory, MessageFactory
from tests.stubs import run_in_thread
from tests.stubs.channels import channels_to
from tests.stubs.twilio_stub import TwilioStub

pytestmark = pytest.mark.django_db


def test_a_throttled_send_is_retried_without_spending_its_attempts(org):
    delivery = DeliveryFactory(message=MessageFactory(organization=org), recipient="+12025550171")
    throttles = [(429, 20429, "Too Many Requests", 0.01)] * 6  # one more than the attempts allowed
    with run_in_thread(TwilioStub) as (url, stub), channels_to(twilio_url=url):
        stub.fail("+12025550171", *throttles)
        with override_settings(DELIVERY_MAX_ATTEMPTS=5, DELIVERY_RETRY_BASE_SECONDS=0):
            for _ in range(len(throttles) + 1):
                dispatch(delivery.message_id)  # each time the retry is due, as its wake-up does
                Delivery.objects.filter(pk=delivery.pk).update(not_before=None)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("sent", 1)
        assert [s["to"] for s in stub.sends] == ["+12025550171"]


def test_a_transient_error_without_retry_after_still_spends_its_attempts(org):
    delivery = DeliveryFactory(message=MessageFactory(organization=org), recipient="+12025550172")
    with run_in_thread(TwilioStub) as (url, stub), channels_to(twilio_url=url):
        stub.fail("+12025550172", *[(503, 20503, "Service Unavailable")] * 3)
        with override_settings(DELIVERY_MAX_ATTEMPTS=3, DELIVERY_RETRY_BASE_SECONDS=0):
            for _ in range(3):
                dispatch(delivery.message_id)
                Delivery.objects.filter(pk=delivery.pk).update(not_before=None)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.error_code) == ("failed", 3, "20503")
        assert stub.sends == []
