"""The admin's user pages: an organization's admin never sees, picks or changes a superuser,
not even one who belongs to their organization (superusers see everyone)."""

import pytest

from apikeys.models import APIKey
from connext.models import User
from tests.factories import APIKeyFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

USERS = "/admin/connext/user/"
KEYS = "/admin/apikeys/apikey/"


@pytest.fixture
def root(org) -> User:
    """A superuser in the org admin's own organization."""
    return User.objects.create_superuser(email="root@acme.test", password="pw-Very-long-1", organization=org)


@pytest.fixture
def colleague(org) -> User:
    return UserFactory(organization=org, email="colleague@acme.test")


def test_the_user_list_leaves_superusers_out(browser, root, colleague):
    page = browser.get(USERS).content
    assert b"colleague@acme.test" in page and b"admin@acme.test" in page
    assert b"root@acme.test" not in page
    assert b"root@acme.test" not in browser.get(USERS, {"q": "root"}).content
    assert b"root@acme.test" not in browser.get(USERS, {"is_superuser__exact": "1"}).content


@pytest.mark.parametrize("page", ["change/", "password/", "delete/", "history/"])
def test_every_page_of_a_superuser_is_404(browser, root, page):
    assert browser.get(f"{USERS}{root.pk}/{page}").status_code == 404


def form(user, **changes) -> dict:
    """The user's change form as the admin page posts it, with `changes`."""
    return {"email": user.email, "username": user.username, "first_name": "", "last_name": "", "phone": "",
            "is_active": "on", "is_staff": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
            **changes}  # fmt: skip


def test_a_superuser_cannot_be_changed(browser, root):
    with nothing_written(root):
        change = browser.post(f"{USERS}{root.pk}/change/", form(root, username="mine", is_active=""))
        password = browser.post(f"{USERS}{root.pk}/password/", {"password1": "x-Long-pass-123",
                                                                 "password2": "x-Long-pass-123"})  # fmt: skip
        delete = browser.post(f"{USERS}{root.pk}/delete/", {"post": "yes"})
        action = browser.post(USERS, {"action": "delete_selected", "_selected_action": [root.pk], "post": "yes"})
    assert (change.status_code, password.status_code, delete.status_code) == (404, 404, 404)
    assert action.status_code in (200, 302)  # the action ran on what the admin may see: nothing
    assert User.objects.filter(pk=root.pk, is_superuser=True, is_active=True).exists()


def test_an_ordinary_user_of_the_organization_is_still_changed(browser, colleague):
    assert browser.get(f"{USERS}{colleague.pk}/change/").status_code == 200
    response = browser.post(f"{USERS}{colleague.pk}/change/", form(colleague, username="c2", is_active=""))
    assert response.status_code == 302, response.context["adminform"].form.errors
    colleague.refresh_from_db()
    assert colleague.username == "c2" and not colleague.is_active


def test_the_api_key_form_offers_no_superuser(browser, root, colleague):
    form = browser.get(f"{KEYS}add/").content
    assert b"colleague@acme.test" in form and b"root@acme.test" not in form
    with nothing_written(APIKey):
        response = browser.post(f"{KEYS}add/", {"name": "Sneaky", "user": root.pk, "scope": "full",
                                                "expires_at_0": "", "expires_at_1": ""})  # fmt: skip
    assert response.status_code == 200 and b"Select a valid choice" in response.content


def test_a_superusers_api_keys_are_not_the_org_admins(browser, root, colleague):
    theirs = APIKeyFactory(user=root, name="RootKey")
    APIKeyFactory(user=colleague, name="ColleagueKey")
    page = browser.get(KEYS).content
    assert b"ColleagueKey" in page and b"RootKey" not in page
    with nothing_written(theirs):
        assert browser.get(f"{KEYS}{theirs.pk}/change/").status_code in (302, 404)
        browser.post(KEYS, {"action": "deactivate", "_selected_action": [theirs.pk]})
        browser.post(f"{KEYS}{theirs.pk}/delete/", {"post": "yes"})


def test_a_superuser_sees_and_picks_superusers(superuser_browser, root):
    assert b"root@acme.test" in superuser_browser.get(USERS).content
    assert superuser_browser.get(f"{USERS}{root.pk}/change/").status_code == 200
    assert b"root@acme.test" in superuser_browser.get(f"{KEYS}add/").content
