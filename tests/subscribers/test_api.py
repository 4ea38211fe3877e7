"""GET/POST /subscribers, GET/PATCH/DELETE /subscribers/{id}: every documented field."""

import pytest

from subscribers.models import Subscriber
from tests.factories import BlocklistEntryFactory, GroupFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

URL = "/api/v1/subscribers"

SUBSCRIBERS = (Subscriber, Subscriber.groups.through)  # the rows and their group memberships

FIELDS = {
    "id",
    "first",
    "last",
    "phone",
    "email",
    "address",
    "city",
    "state",
    "zip",
    "enabled",
    "text",
    "whatsapp",
    "groups",
    "attributes",
    "phoneBlocked",
    "emailBlocked",
}


@pytest.fixture
def groups(org):
    return [GroupFactory(organization=org, number=n, name=f"G{n}") for n in (1, 2, 3)]


def create(api, **body):
    response = api.post(URL, body)
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_with_every_field(api, groups):
    body = create(
        api,
        phone="(202) 555-0143",
        email="Ada@Example.COM",
        first="Ada",
        last="Lovelace",
        address="12 St James's Sq",
        city="London",
        state="LDN",
        zip="SW1Y",
        enabled=True,
        text=1,
        groups=[3, 1],
    )
    assert set(body) == FIELDS
    assert body["phone"] == "+12025550143"
    assert body["email"] == "ada@example.com"
    assert (body["first"], body["last"], body["city"], body["state"], body["zip"]) == (
        "Ada",
        "Lovelace",
        "London",
        "LDN",
        "SW1Y",
    )
    assert (body["enabled"], body["text"], body["phoneBlocked"], body["emailBlocked"]) == (1, 1, 0, 0)
    assert body["groups"] == [1, 3]
    assert api.get(f"{URL}/{body['id']}").json() == body


def test_defaults(api):
    body = create(api, email="b@example.com")
    assert (body["phone"], body["enabled"], body["text"], body["groups"]) == ("", 1, 0, [])


@pytest.mark.parametrize(
    "raw",
    [
        "2025550143",
        "202-555-0143",
        "(202) 555-0143",
        "202.555.0143",
        "+1 202 555 0143",
        "+12025550143",
        "1-202-555-0143",
    ],
)
def test_phone_formats_are_stored_as_e164(api, raw):
    assert create(api, phone=raw)["phone"] == "+12025550143"


def test_national_numbers_use_the_organizations_region(api, org):
    org.default_region = "GB"
    org.save()
    assert create(api, phone="020 7946 0018")["phone"] == "+442079460018"


def refused(send, path: str, body: dict, *, field: str) -> str:
    """A 400 naming `field` that writes no subscriber nor group membership; returns its message."""
    with nothing_written(*SUBSCRIBERS):
        response = send(path, body)
    assert response.status_code == 400, response.json()
    assert response.json()["message"].startswith(f"{field}:"), response.json()
    return response.json()["message"]


@pytest.mark.parametrize("raw", ["12345", "555-0100", "not a phone", "+999 123"])
def test_invalid_phone_is_400_naming_phone(api, raw):
    refused(api.post, URL, {"phone": raw}, field="phone")


@pytest.mark.parametrize("raw", ["nobody", "a@b", "a b@example.com", "@example.com"])
def test_invalid_email_is_400_naming_email(api, raw):
    refused(api.post, URL, {"email": raw}, field="email")


@pytest.mark.parametrize("body", [{}, {"first": "Ada"}, {"phone": "", "email": ""}])
def test_phone_or_email_is_required(api, body):
    refused(api.post, URL, body, field="phone")


def test_clearing_the_only_address_names_the_field_cleared(api):
    only_email = create(api, email="ada@example.com")
    message = refused(api.patch, f"{URL}/{only_email['id']}", {"email": ""}, field="email")
    assert message == "email: A subscriber needs a phone or an email."


def test_duplicate_phone_or_email_is_400_naming_the_field(api):
    create(api, phone="2025550143", email="ada@example.com")
    refused(api.post, URL, {"phone": "+1 (202) 555-0143"}, field="phone")
    refused(api.post, URL, {"email": "ADA@example.com"}, field="email")


def test_same_phone_in_another_organization_is_fine(api, other_api):
    create(api, phone="2025550143")
    assert other_api.post(URL, {"phone": "2025550143"}).status_code == 201


def test_unknown_group_number_is_400_and_writes_nothing(api, groups):
    message = refused(api.post, URL, {"phone": "2025550143", "groups": [1, 9]}, field="groups")
    assert message == "groups: Unknown group number(s): 9."


def test_a_patch_naming_an_unknown_group_changes_nothing(api, groups):
    sub = create(api, phone="2025550143", first="Ada", groups=[1, 2])
    with nothing_written(Subscriber.objects.get(pk=sub["id"])):
        response = api.patch(f"{URL}/{sub['id']}", {"first": "Eve", "groups": [3, 9]})
    assert response.status_code == 400
    assert response.json()["message"] == "groups: Unknown group number(s): 9."


def test_a_group_number_past_any_database_integer_is_unknown(api, groups):
    message = refused(api.post, URL, {"phone": "2025550143", "groups": [2**63]}, field="groups")
    assert message == f"groups: Unknown group number(s): {2**63}."


def test_another_organizations_group_number_is_unknown(api, other_org):
    GroupFactory(organization=other_org, number=5)
    refused(api.post, URL, {"phone": "2025550143", "groups": [5]}, field="groups")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": 2025550143}, "phone"),
        ({"email": "a@example.com", "enabled": "yes"}, "enabled"),
        ({"email": "a@example.com", "text": 3}, "text"),
        ({"email": "a@example.com", "groups": "1"}, "groups"),
        ({"email": "a@example.com", "groups": ["1"]}, "groups.0"),
        ({"email": "a@example.com", "first": None}, "first"),
        ({"email": "a@example.com", "nickname": "x"}, "nickname"),
        ({"email": "a@example.com", "phoneBlocked": 1}, "phoneBlocked"),
    ],
)
def test_wrong_types_and_unknown_fields_are_400(api, groups, body, field):
    refused(api.post, URL, body, field=field)


def test_patch_changes_only_given_fields(api, groups):
    sub = create(api, phone="2025550143", first="Ada", groups=[1])
    response = api.patch(f"{URL}/{sub['id']}", {"last": "King", "enabled": False})
    assert response.status_code == 200
    body = response.json()
    assert (body["first"], body["last"], body["enabled"], body["groups"]) == ("Ada", "King", 0, [1])


def test_patch_groups_replaces_memberships(api, groups):
    sub = create(api, phone="2025550143", groups=[1, 2])
    assert api.patch(f"{URL}/{sub['id']}", {"groups": [3]}).json()["groups"] == [3]
    assert api.patch(f"{URL}/{sub['id']}", {"groups": []}).json()["groups"] == []


def test_patch_phone_normalizes_and_checks_duplicates(api):
    first = create(api, phone="2025550143")
    second = create(api, phone="2025550144")
    assert api.patch(f"{URL}/{first['id']}", {"phone": "202 555 0145"}).json()["phone"] == "+12025550145"
    refused(api.patch, f"{URL}/{second['id']}", {"phone": "2025550145"}, field="phone")


def test_patch_cannot_remove_both_phone_and_email(api):
    sub = create(api, phone="2025550143")
    refused(api.patch, f"{URL}/{sub['id']}", {"phone": ""}, field="phone")


def test_delete(api):
    sub = create(api, phone="2025550143")
    assert api.delete(f"{URL}/{sub['id']}").status_code == 204
    assert api.get(f"{URL}/{sub['id']}").status_code == 404


def test_another_organizations_subscriber_is_404(api, other_api):
    theirs = other_api.post(URL, {"phone": "2025550143"}).json()
    assert api.get(f"{URL}/{theirs['id']}").status_code == 404
    with nothing_written(*SUBSCRIBERS):
        assert api.patch(f"{URL}/{theirs['id']}", {"first": "x"}).status_code == 404
        assert api.delete(f"{URL}/{theirs['id']}").status_code == 404
    assert api.get(URL).json() == []


def test_blocked_flags_follow_the_blocklist_live(api, org):
    sub = create(api, phone="2025550143", email="ada@example.com")
    api.post("/api/v1/blocklist", {"recipient": "202-555-0143"})
    body = api.get(f"{URL}/{sub['id']}").json()
    assert (body["phoneBlocked"], body["emailBlocked"]) == (1, 0)
    BlocklistEntryFactory(organization=org, recipient="ada@example.com", reason="bounce")
    assert api.get(URL).json()[0]["emailBlocked"] == 1
    api.delete("/api/v1/blocklist", {"recipient": "+12025550143"})
    assert api.get(f"{URL}/{sub['id']}").json()["phoneBlocked"] == 0


def test_another_organizations_blocklist_does_not_flag(api, other_api):
    sub = create(api, phone="2025550143")
    other_api.post("/api/v1/blocklist", {"recipient": "2025550143"})
    assert api.get(f"{URL}/{sub['id']}").json()["phoneBlocked"] == 0
