"""The device queue: atomic claims, leases, phones going silent, limits, fallback."""

import datetime
import threading

import pytest
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from devices import queue
from devices.models import Device, DeviceTask
from logs.models import Delivery
from tests.conftest import SQLITE
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


def send_many(external_send, n, *, message="Hello", **more):
    ids = []
    for i in range(n):
        response = external_send(f"+1202555{i:04d}", message, **more)
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    return ids


@pytest.fixture
def pool(org, settings):
    """`org` is served by the shared pool, whose phones belong to the organization `Pool`."""
    from tests.factories import OrganizationFactory

    settings.DEVICE_POOL_ORGANIZATION = "Pool"
    return OrganizationFactory(name="Pool")


def claimed_by(phone):
    return set(DeviceTask.objects.filter(device=phone.device, state="claimed").values_list("pk", flat=True))


def test_the_pool_serves_an_api_only_organization(org, pool, phone_of, external_send):
    pooled = phone_of(pool)
    ids = send_many(external_send, 3)  # no phone of its own: API-only
    assert sorted(t["id"] for t in pooled.poll()) == sorted(ids)


def test_api_only_must_omit_device_id_and_self_managed_must_give_it(org, phone_of, external_send):
    with nothing_written(Delivery):
        response = external_send(device_id="1")
        assert response.status_code == 400 and response.json()["message"].startswith("device_id:")
        phone = phone_of(org)  # a phone of its own: self-managed from now on
        response = external_send()
        assert response.status_code == 400 and response.json()["message"].startswith("device_id:")
    assert external_send(device_id=phone.id).status_code == 202
    org.routes = {"sms": "twilio"}  # an explicit route other than its phones: API-only again
    org.save()
    assert external_send(device_id=phone.id).status_code == 400


@pytest.mark.skipif(SQLITE, reason="SKIP LOCKED claims race on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_polls_never_get_the_same_task(org, pool, phone_of, external_send, settings):
    settings.DEVICE_TASKS_PER_POLL = 3
    phones = [phone_of(pool) for _ in range(6)]
    ids = send_many(external_send, 60)
    got, start = {}, threading.Barrier(len(phones))

    def drain(phone):
        start.wait()
        try:
            while tasks := phone.poll():
                got.setdefault(phone.id, []).extend(t["id"] for t in tasks)
                phone.send_all(tasks, delivered=False)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=drain, args=(phone,)) for phone in phones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everything = [task for tasks in got.values() for task in tasks]
    assert sorted(everything) == sorted(ids)  # each exactly once
    assert len(got) > 1  # spread over the phones
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


@override_settings(DEVICE_MAX_ATTEMPTS=2)
def test_a_claim_not_reported_within_its_lease_goes_back_then_fails(org, pool, phone_of, external_send):
    slow, other = phone_of(pool), phone_of(pool)
    [task_id] = send_many(external_send, 1)
    assert [t["id"] for t in slow.poll()] == [task_id]
    DeviceTask.objects.update(lease_expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert queue.release_claims()["released"] == 1
    assert Delivery.objects.get().status == "queued"
    assert [t["id"] for t in other.poll()] == [task_id]
    assert slow.report(task_id, "sent").status_code == 404  # no longer the slow phone's
    DeviceTask.objects.update(lease_expires_at=timezone.now() - datetime.timedelta(seconds=1))
    queue.release_claims()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.error_code == "device-lease-expired"
    assert "2 times" in delivery.error_message
    assert slow.poll() == [] and other.poll() == []


def test_a_phone_that_stops_heartbeating_loses_its_claims_early(org, pool, phone_of, external_send, settings):
    settings.DEVICE_OFFLINE_RELEASE_SECONDS = 30
    gone, alive = phone_of(pool), phone_of(pool)
    ids = send_many(external_send, 4)
    assert len(gone.poll()) == 4
    queue.release_claims()
    assert len(claimed_by(gone)) == 4  # heartbeating: kept
    Device.objects.filter(pk=gone.device.pk).update(last_seen_at=timezone.now() - datetime.timedelta(seconds=31))
    assert queue.release_claims()["released"] == 4  # long before the lease ends
    assert sorted(t["id"] for t in alive.poll()) == sorted(ids)


def test_with_no_phone_online_a_text_falls_back_to_the_normal_channel(org, pool, phone_of, external_send, run_jobs):
    phone_of(pool, last_seen_at=None)  # paired, never heartbeated
    [task_id] = send_many(external_send, 1)
    assert queue.release_claims()["fallback"] == 0  # still within its wait
    DeviceTask.objects.update(fallback_at=timezone.now())
    assert run_jobs(queue.release_claims)["fallback"] == 1
    delivery = Delivery.objects.get(pk=int(task_id))
    assert delivery.status in ("sent", "delivered") and delivery.provider == "console"
    assert DeviceTask.objects.get().state == "fallback"


def test_without_a_pool_a_send_goes_straight_to_the_normal_channel(org, external_send, run_jobs):
    response = run_jobs(external_send)
    assert response.status_code == 202
    assert Delivery.objects.get().provider == "console" and not DeviceTask.objects.exists()


def test_the_daily_cap_counts_segments_and_moves_work_to_another_phone(org, pool, phone_of, external_send):
    capped, spare = phone_of(pool, daily_cap=5), phone_of(pool)
    long_text = "x" * 300  # 2 segments
    send_many(external_send, 4, message=long_text)
    assert len(capped.poll()) == 2  # 4 segments; a third text would make 6
    assert Device.objects.get(pk=capped.device.pk).segments_today == 4
    assert len(spare.poll()) == 2
    assert capped.poll() == []


def test_a_minimum_delay_gives_one_text_per_delay(org, pool, phone_of, external_send):
    phone = phone_of(pool, min_delay_seconds=30, jitter_seconds=10)
    send_many(external_send, 3)
    assert len(phone.poll()) == 1
    assert phone.poll() == []
    wait = Device.objects.get(pk=phone.device.pk).next_send_at - timezone.now()
    assert datetime.timedelta(seconds=25) < wait <= datetime.timedelta(seconds=40)
    Device.objects.filter(pk=phone.device.pk).update(next_send_at=timezone.now())
    assert len(phone.poll()) == 1


def test_the_monthly_recipient_cap_lets_known_numbers_through(org, pool, phone_of, external_send):
    phone = phone_of(pool, monthly_recipient_cap=2)
    send_many(external_send, 3)  # three numbers
    tasks = phone.poll()
    assert len(tasks) == 2
    phone.send_all(tasks)
    assert phone.poll() == []  # a third number would be over the cap
    external_send("+12025550000", "Again")  # a number it texted this month: free
    assert [t["message"] for t in phone.poll()] == ["Again"]


def test_a_pinned_phone_that_goes_offline_hands_its_queue_to_its_peers(self_managed, phone_of, external_send):
    pinned, peer = phone_of(self_managed), phone_of(self_managed)
    send_many(external_send, 2, device_id=pinned.id)
    assert peer.poll() == []  # asked for by name
    Device.objects.filter(pk=pinned.device.pk).update(last_seen_at=None)
    assert queue.release_claims()["unpinned"] == 2
    assert len(peer.poll()) == 2


def test_an_inactive_device_gets_nothing_and_lets_go(self_managed, phone_of, external_send, api):
    phone = phone_of(self_managed)
    send_many(external_send, 2, device_id=phone.id)
    assert len(phone.poll()) == 2
    response = api.patch(f"/api/v1/devices/{phone.id}", {"active": 0})
    assert response.status_code == 200 and response.json()["active"] == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {"queued"}
    assert phone.poll() == []


def test_beat_runs_the_devices_sweep(settings):
    from connext import celery_app

    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "devices.release_claims")
    assert entry["schedule"] == settings.DEVICE_SWEEP_INTERVAL
    assert "devices.release_claims" in celery_app.tasks


def test_a_suspended_organization_s_texts_wait_in_the_queue(org, pool, phone_of, external_send):
    pooled = phone_of(pool)
    ids = send_many(external_send, 2)
    org.active = False  # suspended (a sub-account by its parent, or by an operator)
    org.save(update_fields=["active"])
    assert pooled.poll() == []
    assert set(DeviceTask.objects.values_list("state", flat=True)) == {"waiting"}
    org.active = True
    org.save(update_fields=["active"])
    assert sorted(t["id"] for t in pooled.poll()) == sorted(ids)
