"""Admin panel, Settings -> API Keys: create (shown once), deactivate, reactivate, delete;
each organization's admin sees only their own keys and data."""

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apikeys.models import APIKey
from groups.models import Group
from tests.conftest import ApiClient
from tests.factories import APIKeyFactory, GroupFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


def test_admin_creates_a_key_and_sees_the_plaintext_once(browser, admin_user):
    response = browser.post(
        "/admin/apikeys/apikey/add/",
        {"name": "CRM", "user": admin_user.pk, "scope": "full", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    plaintext = next(re.search(r"cnxt_[A-Za-z0-9_-]+", m).group(0) for m in messages if "cnxt_" in m)
    # Shown once, in an element a Copy button copies from.
    page = response.content.decode()
    assert f'<code class="cx-key" id="new-api-key">{plaintext}</code>' in page
    assert 'data-copy="#new-api-key">Copy</button>' in page
    key = APIKey.objects.get(name="CRM")
    assert key.organization == admin_user.organization
    assert ApiClient(plaintext).get("/api/v1/groups").status_code == 200
    # Never shown again: not on the list page nor on the key's page.
    assert plaintext.encode() not in browser.get("/admin/apikeys/apikey/").content
    assert plaintext.encode() not in browser.get(f"/admin/apikeys/apikey/{key.pk}/change/").content
    assert key.prefix.encode() in browser.get("/admin/apikeys/apikey/").content


def test_deactivate_and_reactivate_actions(browser, admin_user):
    key = APIKeyFactory(user=admin_user)
    browser.post("/admin/apikeys/apikey/", {"action": "deactivate", "_selected_action": [key.pk]})
    assert ApiClient(key.plaintext).get("/api/v1/groups").status_code == 401
    browser.post("/admin/apikeys/apikey/", {"action": "reactivate", "_selected_action": [key.pk]})
    assert ApiClient(key.plaintext).get("/api/v1/groups").status_code == 200


def test_delete_revokes_the_key(browser, admin_user):
    key = APIKeyFactory(user=admin_user)
    browser.post(f"/admin/apikeys/apikey/{key.pk}/delete/", {"post": "yes"})
    assert not APIKey.objects.filter(pk=key.pk).exists()
    assert ApiClient(key.plaintext).get("/api/v1/groups").status_code == 401


def test_admin_sees_only_their_organization(browser, admin_user, other_org):
    theirs_key = APIKeyFactory(
        user=UserFactory(organization=other_org, email="them@globex.test"), name="GlobexSecretKey"
    )
    ours_key = APIKeyFactory(user=admin_user, name="AcmeKey")
    GroupFactory(organization=other_org, name="GlobexGroup")
    GroupFactory(organization=admin_user.organization, name="AcmeGroup")

    keys_page = browser.get("/admin/apikeys/apikey/").content
    assert b"AcmeKey" in keys_page and b"GlobexSecretKey" not in keys_page
    assert browser.get(f"/admin/apikeys/apikey/{theirs_key.pk}/change/").status_code in (302, 404)
    groups_page = browser.get("/admin/groups/group/").content
    assert b"AcmeGroup" in groups_page and b"GlobexGroup" not in groups_page
    users_page = browser.get("/admin/connext/user/").content
    assert b"admin@acme.test" in users_page and b"them@globex.test" not in users_page
    assert ours_key.prefix.encode() in keys_page


def test_key_form_offers_only_users_of_the_organization(browser, other_org):
    UserFactory(organization=other_org, email="them@globex.test")
    form = browser.get("/admin/apikeys/apikey/add/").content
    assert b"admin@acme.test" in form and b"them@globex.test" not in form


def test_admin_cannot_create_a_key_for_another_organizations_user(browser, other_org):
    theirs = UserFactory(organization=other_org, email="them@globex.test")
    with nothing_written(APIKey):
        response = browser.post(
            "/admin/apikeys/apikey/add/",
            {"name": "Sneaky", "user": theirs.pk, "scope": "full", "expires_at_0": "", "expires_at_1": ""},
        )
    assert response.status_code == 200  # the form comes back with an error


def test_group_created_in_admin_belongs_to_the_admins_organization(browser, admin_user):
    browser.post("/admin/groups/group/add/", {"name": "From admin", "number": 12})
    assert Group.objects.get(name="From admin").organization == admin_user.organization


def test_superuser_sees_every_organization(superuser_browser, other_org, admin_user):
    UserFactory(organization=other_org, email="them@globex.test")
    page = superuser_browser.get("/admin/connext/user/").content
    assert b"admin@acme.test" in page and b"them@globex.test" in page


def test_admin_group_number_clash_is_a_form_error(browser, admin_user):
    GroupFactory(organization=admin_user.organization, number=12)
    with nothing_written(Group):
        response = browser.post("/admin/groups/group/add/", {"name": "Clash", "number": 12})
    assert response.status_code == 200
    assert b"already exists" in response.content


def test_org_admin_logs_in_with_email_and_password(org):
    UserFactory(organization=org, email="boss@acme.test", password="a-Long-pass-123")
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "boss@acme.test", "password": "a-Long-pass-123"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/static/admin/css/base.css").status_code == 200  # served by whitenoise
