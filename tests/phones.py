"""Phones as the tests drive them: the gateway protocol over HTTP, through the whole Django stack.

Fixtures for the device tests (tests/devices/conftest.py and the end-to-end tests import them)."""

import pytest
from django.test import Client

from apikeys.models import APIKey
from tests.factories import APIKeyFactory, DeviceFactory


class Phone:
    """One paired device speaking the protocol (`X-Device-Token`)."""

    def __init__(self, device):
        self.device, self.id, self.token = device, str(device.pk), device.token
        self.client = Client(raise_request_exception=False)

    def _headers(self):
        return {"HTTP_X_DEVICE_TOKEN": self.token}

    def heartbeat(self, **data):
        return self.client.post(f"/api/devices/{self.id}/heartbeat/", data or {"battery": 80}, "application/json",
                                **self._headers())  # fmt: skip

    def poll(self):
        response = self.client.get(f"/api/devices/{self.id}/tasks/", **self._headers())
        assert response.status_code == 200, response.content
        return response.json()

    def report(self, task_id, status, **extra):
        return self.client.post(f"/api/sms/{task_id}/status/", {"status": status, **extra}, "application/json",
                                **self._headers())  # fmt: skip

    def send_all(self, tasks, *, delivered=True):
        """Report each task sent (then delivered), as the app does when SmsManager's broadcasts fire."""
        for task in tasks:
            assert self.report(task["id"], "sent").status_code == 200
            if delivered:
                assert self.report(task["id"], "delivered").status_code == 200


@pytest.fixture
def phone_of():
    """phone_of(organization, **device fields) -> a paired, online Phone."""
    return lambda organization, **fields: Phone(DeviceFactory(organization=organization, **fields))


@pytest.fixture
def self_managed(org):
    """`org` sends its texts through its own phones."""
    org.routes = {"sms": "device"}
    org.save(update_fields=["routes"])
    return org


@pytest.fixture
def send_key(admin_user) -> str:
    """A send-only API key of the org admin (for /api/external/send/)."""
    return APIKeyFactory(user=admin_user, scope=APIKey.Scope.SEND).plaintext


@pytest.fixture
def external_send(send_key):
    """external_send(to, message, **more) -> the response of POST /api/external/send/."""
    client = Client(raise_request_exception=False)

    def send(to="+12025550101", message="Hello", **more):
        body = {"api_key": send_key, "to": to, "message": message, **more}
        return client.post("/api/external/send/", body, "application/json")

    return send
