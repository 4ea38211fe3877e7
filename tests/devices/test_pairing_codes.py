"""POST /devices/pairing-codes: a one-time code for the org admin's "Add Device"."""

import datetime

import pytest
from django.utils import timezone

from connext import roles
from connext.models import IdempotencyRecord
from devices.models import PairingCode
from tests.factories import UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


def test_org_admin_gets_a_code_valid_ten_minutes(api, org):
    response = api.post("/api/v1/devices/pairing-codes")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"code", "expiresAt"}
    stored = PairingCode.objects.get(code=body["code"])
    assert stored.organization == org and stored.usable
    expires = datetime.datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert datetime.timedelta(minutes=9) < expires - timezone.now() <= datetime.timedelta(minutes=10)
    assert api.post("/api/v1/devices/pairing-codes/").json()["code"] != body["code"]


def test_sender_cannot_pair_devices(org, client_for):
    sender = client_for(UserFactory(organization=org, role=roles.SENDER))
    with nothing_written(PairingCode):
        assert sender.post("/api/v1/devices/pairing-codes").status_code == 403


def test_get_is_405(api):
    assert api.get("/api/v1/devices/pairing-codes").status_code == 405


@pytest.mark.parametrize("idempotency_key", [None, "", "k" * 256, "a-key"])
def test_an_undeclared_method_is_a_json_405_with_allow_whatever_its_idempotency_key(api, idempotency_key):
    # Found by the fuzzer: PATCH with an empty Idempotency-Key was a 400 about the key, and a
    # valid key was claimed for a request no view answers. The method comes first.
    headers = {} if idempotency_key is None else {"HTTP_IDEMPOTENCY_KEY": idempotency_key}
    with nothing_written(PairingCode, IdempotencyRecord):
        response = api.patch("/api/v1/devices/pairing-codes", **headers)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": 'Method "PATCH" not allowed.'}
    assert response["Allow"] == "POST, OPTIONS"


def test_a_field_in_the_body_is_400_naming_it(api):
    with nothing_written(PairingCode):
        response = api.post("/api/v1/devices/pairing-codes", {"x": 1})
    assert response.status_code == 400 and response.json()["message"] == "x: Unknown field."
    assert api.post("/api/v1/devices/pairing-codes", {}).status_code == 201
