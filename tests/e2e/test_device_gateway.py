"""A blast to a group end to end through simulated phones: POST /blasts -> a real Celery worker
fans out and hands the texts to the device queue -> phones poll, send and report over the
gateway protocol -> /logs. On PostgreSQL (the worker shares the test database)."""

import datetime
import threading
from collections import Counter

import pytest
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from devices import queue
from devices.models import Device, DeviceTask
from logs.models import Delivery
from tests.conftest import SQLITE
from tests.e2e.test_blast_pipeline import make_people, wait_until
from tests.factories import GroupFactory

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="a worker process needs a database it can share: PostgreSQL"),
]


def held(message_id: int, n: int) -> bool:
    return DeviceTask.objects.filter(delivery__message_id=message_id).count() == n


def blast(api, text="Hi {first}"):
    response = api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": text})
    assert response.status_code == 200, response.content
    return response.json()["id"]


def test_a_blast_drains_through_phones_even_when_one_goes_offline(self_managed, api, phone_of, celery_worker):
    make_people(self_managed, 40, GroupFactory(organization=self_managed, number=1))
    steady, dropout = phone_of(self_managed, name="Steady"), phone_of(self_managed, name="Dropout")
    message_id = blast(api)
    wait_until(lambda: held(message_id, 40))
    assert set(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True)) == {"queued"}

    # Both poll at once: nobody gets a text twice. The dropout then dies holding its claims.
    got, start = {}, threading.Barrier(2)

    def poll(phone):
        start.wait()
        got[phone.id] = phone.poll()
        connections.close_all()

    threads = [threading.Thread(target=poll, args=(p,)) for p in (steady, dropout)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    lost = {t["id"] for t in got[dropout.id]}
    assert lost and not lost & {t["id"] for t in got[steady.id]}
    assert got[steady.id][0]["message"].startswith("Hi P")  # rendered with its merge fields
    steady.send_all(got[steady.id])
    Device.objects.filter(pk=dropout.device.pk).update(last_seen_at=timezone.now() - datetime.timedelta(minutes=5))
    assert queue.release_claims()["released"] == len(lost)

    taken = Counter()
    while tasks := steady.poll():
        taken.update(t["id"] for t in tasks)
        steady.send_all(tasks)
    assert lost <= set(taken) and max(taken.values()) == 1
    statuses = Counter(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True))
    assert statuses == {"delivered": 40}
    row = api.get(f"/api/v1/logs/{message_id}", {"limit": 1}).json()[0]
    assert row["status"] == "delivered" and row["providerId"] == f"device:{steady.id}"
    logs = api.get("/api/v1/logs").json()[0]
    assert (logs["id"], logs["delivered"]) == (message_id, 40)


def test_with_no_phone_online_the_blast_falls_back_to_the_normal_channel(self_managed, api, phone_of, celery_worker):
    make_people(self_managed, 5, GroupFactory(organization=self_managed, number=1))
    phone_of(self_managed, last_seen_at=None)
    message_id = blast(api, "Fallback")
    wait_until(lambda: held(message_id, 5))
    DeviceTask.objects.update(fallback_at=timezone.now())
    with override_settings(CELERY_TASK_DEFAULT_QUEUE=celery_worker.queue):
        assert queue.release_claims()["fallback"] == 5
    wait_until(lambda: set(Delivery.objects.filter(message_id=message_id).values_list("provider", flat=True))
               == {"console"})  # fmt: skip
    wait_until(
        lambda: set(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True)) == {"delivered"}
    )


def test_a_blast_honours_each_phones_cap_and_delay_and_its_leases(self_managed, api, phone_of, celery_worker):
    make_people(self_managed, 8, GroupFactory(organization=self_managed, number=1))
    capped = phone_of(self_managed, name="Capped", daily_cap=3)
    slow = phone_of(self_managed, name="Slow", min_delay_seconds=60, jitter_seconds=5)
    message_id = blast(api)
    wait_until(lambda: held(message_id, 8))
    kept = capped.poll()
    assert len(kept) == 3 and capped.poll() == []  # 3 one-segment texts: its cap for today
    [first] = slow.poll()
    assert slow.poll() == []  # a minute at least before its next text
    slow.send_all([first])
    # The capped phone never reports: past the lease its texts go back, and nobody may take them
    # today but the slow phone, one per delay.
    DeviceTask.objects.filter(device=capped.device, state="claimed").update(lease_expires_at=timezone.now())
    assert queue.release_claims()["released"] == 3
    assert capped.poll() == []
    Device.objects.filter(pk=slow.device.pk).update(next_send_at=timezone.now())
    [second] = slow.poll()
    assert second["id"] in {t["id"] for t in kept}  # the oldest first: a released text
    slow.send_all([second])
    rows = {r["id"]: r["status"] for r in api.get(f"/api/v1/logs/{message_id}").json()}
    assert Counter(rows.values()) == {"delivered": 2, "queued": 6}
