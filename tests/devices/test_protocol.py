"""The gateway protocol as phones in the field speak it: exact paths (trailing slashes), field
names, status codes; every refusal JSON and changing nothing."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from devices.models import Device, DeviceTask, PairingCode
from logs.models import Delivery, Message
from tests.factories import PairingCodeFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

anon = Client(raise_request_exception=False)


def register(code, name="Pixel 7", phone="+15551234567", **more):
    body = {"code": code, "device_name": name, "phone_number": phone, **more}
    return anon.post("/api/devices/register/", body, "application/json")


def test_a_code_trades_for_a_device_token_exactly_once(org):
    code = PairingCodeFactory(organization=org)
    response = register(code.code)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"device_id", "device_token", "device_name"} and body["device_name"] == "Pixel 7"
    device = Device.objects.get(pk=int(body["device_id"]))
    assert device.organization == org and device.phone_number == "+15551234567"
    assert body["device_token"] not in device.token_hash  # stored hashed only
    with nothing_written(Device, PairingCode):
        again = register(code.code, name="Another")
    assert again.status_code == 400 and "code" in again.json()["message"]


@pytest.mark.parametrize(
    "code_fields",
    [{"used_at": timezone.now()}, {"expires_at": timezone.now() - datetime.timedelta(seconds=1)}, None],
    ids=["used", "expired", "unknown"],
)
def test_a_used_expired_or_unknown_code_is_400(org, code_fields):
    code = PairingCodeFactory(organization=org, **code_fields).code if code_fields else "NOSUCHCD"
    with nothing_written(Device, PairingCode):
        response = register(code)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json()["message"].startswith("code:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"device_name": "P", "phone_number": "+15551234567"}, "code"),
        ({"device_name": "P", "phone_number": "12", "code": None}, "code"),
        ({"code": "C", "phone_number": "+15551234567", "device_name": ""}, "device_name"),
        ({"code": "C", "device_name": "P", "phone_number": "+15551234567", "extra": 1}, "extra"),
    ],
)
def test_malformed_registrations_are_400_naming_the_field(org, body, field):
    PairingCodeFactory(organization=org, code="C")
    with nothing_written(Device, PairingCode):
        response = anon.post("/api/devices/register/", body, "application/json")
    assert response.status_code == 400 and response.json()["message"].startswith(f"{field}:")


def test_a_bad_phone_number_is_400_and_the_code_stays_usable(org):
    code = PairingCodeFactory(organization=org)
    with nothing_written(Device, PairingCode):
        response = register(code.code, phone="12")
    assert response.status_code == 400 and response.json()["message"].startswith("phone_number:")
    assert register(code.code).status_code == 201


def test_both_token_headers_work_and_a_token_acts_only_as_its_device(org, phone_of):
    phone, other = phone_of(org), phone_of(org)
    assert phone.heartbeat().status_code == 200
    bearer = phone.client.get(f"/api/devices/{phone.id}/tasks/", HTTP_AUTHORIZATION=f"Bearer {phone.token}")
    assert bearer.status_code == 200 and bearer.json() == []
    with nothing_written(Device):
        for path in (f"/api/devices/{other.id}/heartbeat/", "/api/devices/999999/heartbeat/"):
            response = phone.client.post(path, {"battery": 5}, "application/json", HTTP_X_DEVICE_TOKEN=phone.token)
            assert response.status_code == 401 and "message" in response.json()
        for headers in ({"HTTP_X_DEVICE_TOKEN": "cnxd_wrong"}, {}, {"HTTP_AUTHORIZATION": "Bearer cnxt_x"}):
            assert (
                anon.post(f"/api/devices/{phone.id}/heartbeat/", {}, "application/json", **headers).status_code == 401
            )
            assert anon.get(f"/api/devices/{phone.id}/tasks/", **headers).status_code == 401


def test_heartbeat_stores_health_and_makes_the_device_online_for_a_minute(org, phone_of, api):
    phone = phone_of(org, last_seen_at=None)
    assert api.get(f"/api/v1/devices/{phone.id}").json()["status"] == "offline"
    response = phone.heartbeat(battery=81, signal=3, android_version="14", app_version="1.0.0")
    assert response.status_code == 200
    body = response.json()
    assert (
        set(body) == {"status", "device_id", "last_seen"} and body["status"] == "ok" and body["device_id"] == phone.id
    )
    shown = api.get(f"/api/v1/devices/{phone.id}").json()
    assert shown["status"] == "online" and shown["battery"] == 81 and shown["signal"] == 3
    Device.objects.filter(pk=phone.device.pk).update(last_seen_at=timezone.now() - datetime.timedelta(seconds=61))
    assert api.get(f"/api/v1/devices/{phone.id}").json()["status"] == "offline"


@pytest.mark.parametrize("body", [{"battery": 101}, {"battery": "80"}, {"signal": 1.5}, {"unknown": 1}, [1]])
def test_a_malformed_heartbeat_is_400_and_changes_nothing(org, phone_of, body):
    phone = phone_of(org)
    with nothing_written(phone.device):
        response = phone.client.post(f"/api/devices/{phone.id}/heartbeat/", body, "application/json",
                                     HTTP_X_DEVICE_TOKEN=phone.token)  # fmt: skip
    assert response.status_code == 400 and "message" in response.json()


def test_an_oversized_body_is_refused(org, phone_of):
    phone = phone_of(org)
    with nothing_written(phone.device):
        response = phone.client.post(f"/api/devices/{phone.id}/heartbeat/", {"model": "x" * 20000}, "application/json",
                                     HTTP_X_DEVICE_TOKEN=phone.token)  # fmt: skip
    assert response.status_code == 413 and "message" in response.json()


def test_a_text_goes_to_the_phone_and_its_reports_show_in_logs(self_managed, phone_of, external_send, api):
    phone = phone_of(self_managed)
    sent = external_send("+12025550101", "Hello", device_id=phone.id)
    assert sent.status_code == 202
    body = sent.json()
    assert body["status"] == "queued" and body["id"]
    tasks = phone.poll()
    assert tasks == [{"id": body["id"], "to": "+12025550101", "message": "Hello"}]
    assert phone.poll() == []  # claimed: never handed out twice
    assert Delivery.objects.get(pk=int(body["id"])).status == "sending"
    response = phone.report(body["id"], "sent")
    assert response.status_code == 200 and response.json()["status"] == "sent"
    assert phone.report(body["id"], "delivered").json()["status"] == "delivered"
    assert phone.report(body["id"], "sent").json()["status"] == "delivered"  # forward only, idempotent
    rows = api.get(f"/api/v1/logs/{body['log_id']}").json()
    assert [(r["status"], r["recipient"]) for r in rows] == [("delivered", "+12025550101")]
    stats = api.get(f"/api/v1/logs/{body['log_id']}/stats").json()
    assert stats["statuses"]["delivered"] == 1


def test_a_failure_report_keeps_the_phones_error(self_managed, phone_of, external_send):
    phone = phone_of(self_managed)
    task_id = external_send(device_id=phone.id).json()["id"]
    phone.poll()
    assert phone.report(task_id, "failed", error="RESULT_ERROR_NO_SERVICE").json()["status"] == "failed"
    delivery = Delivery.objects.get(pk=int(task_id))
    assert delivery.error_message == "RESULT_ERROR_NO_SERVICE" and delivery.provider == "device"


@pytest.mark.parametrize("body", [{"status": "read"}, {"status": 1}, {}, {"status": "sent", "x": 1}])
def test_a_malformed_status_is_400_and_changes_nothing(self_managed, phone_of, external_send, body):
    phone = phone_of(self_managed)
    task_id = external_send(device_id=phone.id).json()["id"]
    phone.poll()
    with nothing_written(Delivery, DeviceTask):
        response = phone.client.post(f"/api/sms/{task_id}/status/", body, "application/json",
                                     HTTP_X_DEVICE_TOKEN=phone.token)  # fmt: skip
    assert response.status_code == 400 and "message" in response.json()


def test_a_status_for_a_task_the_device_does_not_hold_is_404(self_managed, other_org, phone_of, external_send):
    holder, other, stranger = phone_of(self_managed), phone_of(self_managed), phone_of(other_org)
    task_id = external_send(device_id=holder.id).json()["id"]
    holder.poll()
    with nothing_written(Delivery, DeviceTask):
        for phone, task in ((other, task_id), (stranger, task_id), (holder, "999999"), (holder, "abc")):
            response = phone.report(task, "sent")
            assert response.status_code == 404 and "message" in response.json()
        assert anon.post(f"/api/sms/{task_id}/status/", {"status": "sent"}, "application/json").status_code == 401


def test_paths_without_the_trailing_slash_reach_the_same_views(org, phone_of):
    phone = phone_of(org)
    response = phone.client.post(f"/api/devices/{phone.id}/heartbeat", {}, "application/json",
                                 HTTP_X_DEVICE_TOKEN=phone.token)  # fmt: skip
    assert response.status_code == 200
    assert phone.client.get(f"/api/devices/{phone.id}/tasks", HTTP_X_DEVICE_TOKEN=phone.token).json() == []


def test_a_device_never_gets_another_organizations_texts(self_managed, other_org, phone_of, external_send):
    own, stranger = phone_of(self_managed), phone_of(other_org)
    external_send(device_id=own.id)
    assert stranger.poll() == []
    assert DeviceTask.objects.get().state == "waiting"
    assert Message.objects.get().organization == self_managed
