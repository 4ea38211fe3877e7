"""A PATCH racing a DELETE of the same subscriber (PostgreSQL): the deleted subscriber stays
deleted. Django's save() inserts when its UPDATE finds no row, which brought the row back
with the PATCH's fields and no groups."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from subscribers.models import Subscriber
from tests.conftest import SQLITE

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="row locks are PostgreSQL's"),
]


def backend_waiting_on_a_lock(query_start: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            [query_start + "%"],
        )
        return cursor.fetchone()[0] > 0


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
    deadline = time.monotonic() + 10
    while not backend_waiting_on_a_lock("SELECT"):  # the PATCH waits for the deleted row
        assert time.monotonic() < deadline and patcher.is_alive(), f"the PATCH never waited for the row: {outcome}"
        time.sleep(0.02)
    release.set()
    deleter.join(20)
    patcher.join(20)
    assert outcome["response"].status_code == 404
    assert not Subscriber.objects.filter(pk=ada.pk).exists()
