"""Bearer API keys: who gets 401, who gets 403, and that a key acts as its user."""

import datetime
import hashlib

import pytest
from django.contrib.auth.models import Group as Role
from django.contrib.auth.models import Permission
from django.utils import timezone

from apikeys.models import APIKey
from connext import roles
from groups.models import Group
from tests.conftest import ApiClient
from tests.factories import APIKeyFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


def assert_401(response):
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_missing_key_is_401(anon):
    response = anon.get("/api/v1/groups")
    assert_401(response)
    assert response.json()["message"] == "Authentication credentials were not provided."


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Bearer ", "cnxt_abc", "Basic dXNlcjpwYXNz"])
def test_malformed_authorization_header_is_401(header):
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_401(client.get("/api/v1/groups"))


def test_unknown_key_is_401(admin_user):
    assert_401(ApiClient("cnxt_" + "x" * 43).get("/api/v1/groups"))
    assert_401(ApiClient("sk_live_whatever").get("/api/v1/groups"))


def test_expired_key_is_401(admin_user):
    key = APIKeyFactory(user=admin_user, expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = ApiClient(key.plaintext).get("/api/v1/groups")
    assert_401(response)
    assert "expired" in response.json()["message"]


def test_key_with_future_expiry_works(admin_user):
    key = APIKeyFactory(user=admin_user, expires_at=timezone.now() + datetime.timedelta(days=1))
    assert ApiClient(key.plaintext).get("/api/v1/groups").status_code == 200


def test_deactivated_key_is_401_and_reactivated_key_works(admin_user):
    key = APIKeyFactory(user=admin_user)
    APIKey.objects.filter(pk=key.pk).update(active=False)
    response = ApiClient(key.plaintext).get("/api/v1/groups")
    assert_401(response)
    assert "deactivated" in response.json()["message"]
    APIKey.objects.filter(pk=key.pk).update(active=True)
    assert ApiClient(key.plaintext).get("/api/v1/groups").status_code == 200


def test_deleted_key_is_401(admin_user):
    key = APIKeyFactory(user=admin_user)
    key.delete()
    assert_401(ApiClient(key.plaintext).get("/api/v1/groups"))


def test_key_of_inactive_user_is_401(admin_user, api):
    admin_user.is_active = False
    admin_user.save()
    assert_401(api.get("/api/v1/groups"))


def test_key_is_stored_hashed_and_listed_by_hash_prefix(admin_user):
    key = APIKeyFactory(user=admin_user)
    plaintext = key.plaintext
    assert plaintext.startswith("cnxt_") and len(plaintext) >= 5 + 43
    stored = APIKey.objects.get(pk=key.pk)
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in str(APIKey.objects.filter(pk=key.pk).values().first())
    assert stored.prefix == stored.key_hash[:8]


def test_use_records_last_used_time(admin_user):
    key = APIKeyFactory(user=admin_user)
    assert key.last_used_at is None
    ApiClient(key.plaintext).get("/api/v1/groups")
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert timezone.now() - key.last_used_at < datetime.timedelta(seconds=30)


def test_viewer_can_read_but_not_write(org, client_for):
    viewer = client_for(UserFactory(organization=org, role=roles.VIEWER))
    assert viewer.get("/api/v1/groups").status_code == 200
    with nothing_written(Group):
        response = viewer.post("/api/v1/groups", {"name": "Nope"})
    assert response.status_code == 403
    assert response.json() == {"message": "Your role does not allow this."}


def test_sender_can_manage_groups(org, client_for):
    sender = client_for(UserFactory(organization=org, role=roles.SENDER))
    created = sender.post("/api/v1/groups", {"name": "Volunteers"})
    assert created.status_code == 201
    assert sender.delete(f"/api/v1/groups/{created.json()['id']}").status_code == 204


def test_user_without_role_is_403(org, client_for):
    user = UserFactory(organization=org)
    user.groups.clear()
    response = client_for(user).get("/api/v1/groups")
    assert response.status_code == 403


def test_send_only_key_can_never_read(admin_user, client_for):
    send_only = client_for(admin_user, scope=APIKey.Scope.SEND)
    with nothing_written(Group):
        refused = send_only.post("/api/v1/groups", {"name": "x"})
    for response in (send_only.get("/api/v1/groups"), refused):
        assert response.status_code == 403
        assert "send-only" in response.json()["message"]


def test_direct_user_permissions_count_too(org, client_for):
    user = UserFactory(organization=org)
    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_group", content_type__app_label="groups"))
    client = client_for(user)
    assert client.get("/api/v1/groups").status_code == 200
    with nothing_written(Group):
        assert client.post("/api/v1/groups", {"name": "x"}).status_code == 403


def test_role_change_applies_to_the_next_request(org, client_for):
    user = UserFactory(organization=org, role=roles.SENDER)
    client = client_for(user)
    assert client.post("/api/v1/groups", {"name": "ok"}).status_code == 201
    user.groups.set([Role.objects.get(name=roles.VIEWER)])
    with nothing_written(Group):
        assert client.post("/api/v1/groups", {"name": "no"}).status_code == 403
