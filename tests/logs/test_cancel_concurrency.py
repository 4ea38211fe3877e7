"""Cancel while a dispatcher is claiming rows of the same message (PostgreSQL): neither waits on
the other in a cycle. The claim's new running-total rows reference the message, and their
foreign key check at commit takes a KEY SHARE lock on it; cancel's lock on the message must
not block that while cancel itself waits for the claimed rows (it was a deadlock: a 500 and
nothing canceled)."""

import pytest
from django.utils import timezone

from logs import state
from logs.models import Delivery
from tests.conftest import SQLITE, contend_while_held
from tests.factories import DeliveryFactory, MessageFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="row locks and the running-total triggers are PostgreSQL's"),
]


def test_cancel_waits_for_a_claim_in_progress_then_cancels_the_rest(org):
    message = MessageFactory(organization=org)
    DeliveryFactory.create_batch(20, message=message)

    def claim_five():  # a claim caught between its UPDATE and its commit
        ids = list(
            Delivery.objects.select_for_update().filter(message=message).order_by("id").values_list("id", flat=True)[:5]
        )
        Delivery.objects.filter(id__in=ids).update(status="sending", lease_expires_at=timezone.now())

    _, canceled = contend_while_held(claim_five, lambda: state.cancel(message.pk))  # cancel waits for the 5
    assert canceled == 15
    statuses = sorted(Delivery.objects.filter(message=message).values_list("status", flat=True))
    assert statuses == ["canceled"] * 15 + ["sending"] * 5
