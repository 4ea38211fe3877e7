"""A PATCH racing a DELETE of the same subscriber (PostgreSQL): the deleted subscriber stays
deleted. Django's save() inserts when its UPDATE finds no row, which brought the row back
with the PATCH's fields and no groups."""

import pytest

from subscribers.models import Subscriber
from tests.conftest import SQLITE, contend_while_held
from tests.factories import SubscriberFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="row locks are PostgreSQL's"),
]


def test_a_patch_that_waited_for_a_delete_finds_the_subscriber_gone(api, org):
    ada = SubscriberFactory(organization=org, first="Ada", phone="+12025550101")

    def patch():
        return api.patch(f"/api/v1/subscribers/{ada.pk}", {"first": "Patched"})

    # A DELETE caught between its statement and its commit; the PATCH waits for the row.
    _, response = contend_while_held(lambda: Subscriber.objects.filter(pk=ada.pk).delete(), patch)
    assert response.status_code == 404
    assert not Subscriber.objects.filter(pk=ada.pk).exists()
