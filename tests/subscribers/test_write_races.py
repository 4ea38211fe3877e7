"""A PATCH racing a DELETE of the same subscriber (PostgreSQL): the deleted subscriber stays
deleted. Django's save() inserts when its UPDATE finds no row, which brought the row back
with the PATCH's fields and no groups."""

import threading

import pytest
from django.db import connections, transaction

from subscribers.models import Subscriber
from tests.conftest import SQLITE, wait_until_blocked

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="row locks are PostgreSQL's"),
]


def test_a_patch_that_waited_for_a_delete_finds_the_subscriber_gone(api, org):
    ada = Subscriber.objects.create(organization=org, first="Ada", phone="+12025550101")
    deleted, release, outcome = threading.Event(), threading.Event(), {}

    def delete_and_wait():
        try:
            with transaction.atomic():  # a DELETE caught between its statement and its commit
                Subscriber.objects.filter(pk=ada.pk).delete()
                deleted.set()
                release.wait(10)
        finally:
            connections.close_all()

    def patch():
        try:
            outcome["response"] = api.patch(f"/api/v1/subscribers/{ada.pk}", {"first": "Patched"})
        finally:
            connections.close_all()

    deleter = threading.Thread(target=delete_and_wait)
    deleter.start()
    assert deleted.wait(10)
    patcher = threading.Thread(target=patch)
    patcher.start()
    wait_until_blocked(patcher)  # the PATCH waits for the deleted row
    release.set()
    deleter.join(20)
    patcher.join(20)
    assert outcome["response"].status_code == 404
    assert not Subscriber.objects.filter(pk=ada.pk).exists()
