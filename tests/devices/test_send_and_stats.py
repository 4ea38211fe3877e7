"""/api/sms/send/ (dashboard session, CSRF), /api/external/send/ (send-only key in the body),
/api/stats/, /api/sms/inbound/: three credentials that never overlap."""

import pytest
from django.test import Client

from apikeys.models import APIKey
from connext import roles
from devices.models import DeviceTask
from logs.models import Delivery, Message, Reply
from subscribers.models import BlocklistEntry
from tests.factories import APIKeyFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


@pytest.fixture
def dashboard(admin_user) -> Client:
    """The admin's logged-in browser, CSRF checks on as in a real one."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(admin_user)
    client.get("/admin/")  # sets the csrftoken cookie
    return client


def session_send(client, body, csrf=True):
    headers = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value} if csrf else {}
    return client.post("/api/sms/send/", body, "application/json", **headers)


def test_the_dashboard_sends_through_a_chosen_phone(self_managed, dashboard, phone_of):
    phone = phone_of(self_managed)
    response = session_send(dashboard, {"device_id": phone.id, "to": "+15551234567", "message": "Hello"})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["device_id"] == phone.id
    assert phone.poll() == [{"id": body["id"], "to": "+15551234567", "message": "Hello"}]


def test_a_session_send_without_the_csrf_token_or_login_is_refused(self_managed, dashboard, phone_of):
    phone = phone_of(self_managed)
    body = {"device_id": phone.id, "to": "+15551234567", "message": "Hello"}
    with nothing_written(Message, Delivery, DeviceTask):
        refused = session_send(dashboard, body, csrf=False)
        assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
        assert Client().post("/api/sms/send/", body, "application/json").status_code == 401
        as_device = Client().post("/api/sms/send/", body, "application/json", HTTP_X_DEVICE_TOKEN=phone.token)
        assert as_device.status_code == 401  # a device token cannot send


def test_a_viewer_session_cannot_send(self_managed, phone_of):
    viewer = Client(raise_request_exception=False)
    viewer.force_login(UserFactory(organization=self_managed, role=roles.VIEWER))
    phone = phone_of(self_managed)
    response = viewer.post("/api/sms/send/", {"device_id": phone.id, "to": "+15551234567", "message": "Hi"},
                           "application/json")  # fmt: skip
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "nope", "message": "Hi"}, "to"),
        ({"to": "+15551234567", "message": ""}, "message"),
        ({"to": "+15551234567", "message": None}, "message"),
        ({"to": "+15551234567", "message": "Hi", "device_id": "999999"}, "device_id"),
        ({"to": "+15551234567", "message": "Hi", "device_id": "x"}, "device_id"),
        ({"to": "+15551234567", "message": "Hi", "extra": 1}, "extra"),
    ],
)
def test_bad_sends_are_400_naming_the_field(self_managed, phone_of, external_send, body, field):
    phone = phone_of(self_managed)
    with nothing_written(Message, Delivery, DeviceTask):
        response = external_send(**{"device_id": phone.id, **body})
    assert response.status_code == 400 and response.json()["message"].startswith(f"{field}:")


def test_another_organizations_device_is_not_yours_to_send_through(self_managed, other_org, phone_of, external_send):
    stranger = phone_of(other_org)
    with nothing_written(Message, Delivery, DeviceTask):
        response = external_send(device_id=stranger.id)
    assert response.status_code == 400 and response.json()["message"].startswith("device_id:")


def test_a_blocklisted_number_is_not_texted(self_managed, phone_of, external_send):
    phone = phone_of(self_managed)
    BlocklistEntry.objects.create(organization=self_managed, recipient="+12025550101", type="phone", reason="stop")
    with nothing_written(Message, Delivery, DeviceTask):
        response = external_send("+12025550101", device_id=phone.id)
    assert response.status_code == 400 and response.json()["message"].startswith("to:")


def test_only_a_send_only_key_sends_and_it_can_never_read(admin_user, self_managed, phone_of, client_for):
    phone = phone_of(self_managed)
    full = APIKeyFactory(user=admin_user).plaintext
    body = {"to": "+15551234567", "message": "Hi", "device_id": phone.id}
    anon = Client(raise_request_exception=False)
    with nothing_written(Message, Delivery):
        for key in (full, "cnxt_wrong", phone.token, None, 5):
            response = anon.post("/api/external/send/", {**body, "api_key": key}, "application/json")
            assert response.status_code == 401, key
        assert anon.post("/api/external/send/", body, "application/json").status_code == 401
    send_only = client_for(admin_user, scope=APIKey.Scope.SEND)
    assert send_only.get("/api/v1/logs").status_code == 403
    assert send_only.get("/api/v1/devices").status_code == 403
    stats = anon.get("/api/stats/", HTTP_AUTHORIZATION=f"Bearer {send_only.key}")
    assert stats.status_code == 401


def test_stats_count_globally_and_per_device(self_managed, dashboard, phone_of, external_send):
    good, flaky = phone_of(self_managed, name="Good"), phone_of(self_managed, name="Flaky")
    for phone, outcome in ((good, "delivered"), (good, "delivered"), (flaky, "failed")):
        external_send(device_id=phone.id)
        [task] = phone.poll()
        phone.report(task["id"], "sent")
        phone.report(task["id"], outcome)
    external_send(device_id=good.id)  # still queued
    response = dashboard.get("/api/stats/")
    assert response.status_code == 200
    body = response.json()
    assert (body["total_messages"], body["sent"], body["failed"], body["success_rate"]) == (4, 2, 1, 66.7)
    by_name = {d["name"]: d for d in body["devices"]}
    assert (by_name["Good"]["sent"], by_name["Good"]["failed"], by_name["Good"]["success_rate"]) == (2, 0, 100.0)
    assert (by_name["Flaky"]["sent"], by_name["Flaky"]["failed"]) == (0, 1)
    assert by_name["Good"]["device_id"] == good.id and by_name["Good"]["status"] == "online"
    assert Client().get("/api/stats/").status_code == 401
    assert Client().get("/api/stats/", HTTP_X_DEVICE_TOKEN=good.token).status_code == 401


def test_inbound_texts_go_through_stop_and_replies(self_managed, phone_of, external_send):
    phone = phone_of(self_managed)
    external_send("+12025550101", "Hello", device_id=phone.id)
    [task] = phone.poll()
    phone.report(task["id"], "sent")

    def inbound(body):
        return phone.client.post("/api/sms/inbound/", body, "application/json", HTTP_X_DEVICE_TOKEN=phone.token)

    reply = inbound({"from": "+12025550101", "message": "Thanks!", "id": "m1"})
    assert reply.status_code == 200 and reply.json() == {"status": "ok", "reply": None}
    inbound({"from": "+12025550101", "message": "Thanks!", "id": "m1"})  # the phone posts it again
    assert list(Reply.objects.values_list("body", "delivery_id")) == [("Thanks!", int(task["id"]))]
    assert inbound({"from": "+12025550101", "message": "HELP"}).json()["reply"]
    assert inbound({"from": "+12025550101", "message": "Stop."}).status_code == 200
    assert BlocklistEntry.objects.filter(organization=self_managed, recipient="+12025550101", reason="stop").exists()
    with nothing_written(Reply, BlocklistEntry):
        assert inbound({"message": "x"}).json()["message"].startswith("from:")
        assert Client().post("/api/sms/inbound/", {"from": "+1", "message": "x"}, "application/json").status_code == 401


def test_the_devices_api_lists_and_changes_the_fleet(api, other_api, org, phone_of):
    phone = phone_of(org, name="Pixel", battery=55)
    listed = api.get("/api/v1/devices").json()
    assert [d["name"] for d in listed] == ["Pixel"]
    assert set(listed[0]) >= {
        "id", "name", "model", "phoneNumber", "status", "lastSeen", "battery", "signal", "sentToday", "dailyCap",
        "minDelaySeconds", "active",
    }  # fmt: skip
    changed = api.patch(f"/api/v1/devices/{phone.id}", {"dailyCap": 200, "minDelaySeconds": 8, "name": "Desk"})
    assert changed.status_code == 200
    assert (changed.json()["dailyCap"], changed.json()["minDelaySeconds"], changed.json()["name"]) == (200, 8, "Desk")
    with nothing_written(phone.device):
        assert api.patch(f"/api/v1/devices/{phone.id}", {"dailyCap": -1}).status_code == 400
        assert api.patch(f"/api/v1/devices/{phone.id}", {"battery": 3}).status_code == 400
        assert other_api.get(f"/api/v1/devices/{phone.id}").status_code == 404
        assert other_api.delete(f"/api/v1/devices/{phone.id}").status_code == 404
    assert api.delete(f"/api/v1/devices/{phone.id}").status_code == 204
    assert phone.heartbeat().status_code == 401  # unpaired: the token is gone
