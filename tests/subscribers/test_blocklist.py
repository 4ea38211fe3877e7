"""GET/POST/DELETE /blocklist: manual entries come and go; opt-outs stay."""

import pytest

from connext import roles
from subscribers.models import BlocklistEntry
from tests.factories import BlocklistEntryFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


def test_add_phone_and_email(api):
    phone = api.post("/api/v1/blocklist", {"recipient": "(202) 555-0143"})
    assert phone.status_code == 201
    body = phone.json()
    assert (body["recipient"], body["type"], body["reason"]) == ("+12025550143", "phone", "manual")
    assert body["createdAt"].endswith("Z")
    email = api.post("/api/v1/blocklist", {"recipient": " Ada@Example.com "}).json()
    assert (email["recipient"], email["type"]) == ("ada@example.com", "email")
    listed = api.get("/api/v1/blocklist")
    assert {row["recipient"] for row in listed.json()} == {"+12025550143", "ada@example.com"}
    assert listed["X-Total-Count"] == "2"


def test_adding_twice_keeps_one_entry(api):
    api.post("/api/v1/blocklist", {"recipient": "2025550143"})
    again = api.post("/api/v1/blocklist", {"recipient": "+12025550143"})
    assert again.status_code == 201
    assert BlocklistEntry.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"recipient": ""},
        {"recipient": "hello"},
        {"recipient": "a@b"},
        {"recipient": 2025550143},
        {"recipient": "2025550143", "reason": "stop"},
    ],
)
def test_bad_recipient_is_400(api, body):
    with nothing_written(BlocklistEntry):
        response = api.post("/api/v1/blocklist", body)
    assert response.status_code == 400


def test_remove_manual_entry(api):
    api.post("/api/v1/blocklist", {"recipient": "2025550143"})
    response = api.delete("/api/v1/blocklist", {"recipient": "202-555-0143"})
    assert response.status_code == 204
    assert response.content == b""
    assert not BlocklistEntry.objects.exists()


def test_remove_unknown_is_404(api, org):
    BlocklistEntryFactory(organization=org, recipient="+12025550144")
    with nothing_written(BlocklistEntry):
        response = api.delete("/api/v1/blocklist", {"recipient": "2025550143"})
    assert response.status_code == 404
    assert response.json()["message"]


@pytest.mark.parametrize("reason", ["stop", "bounce", "complaint"])
def test_opt_outs_cannot_be_removed(api, org, reason):
    BlocklistEntryFactory(organization=org, recipient="+12025550143", reason=reason)
    with nothing_written(BlocklistEntry):
        response = api.delete("/api/v1/blocklist", {"recipient": "2025550143"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("recipient:")


def test_blocklists_are_per_organization(api, other_api):
    api.post("/api/v1/blocklist", {"recipient": "2025550143"})
    assert other_api.get("/api/v1/blocklist").json() == []
    with nothing_written(BlocklistEntry):
        assert other_api.delete("/api/v1/blocklist", {"recipient": "2025550143"}).status_code == 404


def test_viewer_reads_but_cannot_change(org, client_for):
    BlocklistEntryFactory(organization=org, recipient="+12025550144")
    viewer = client_for(UserFactory(organization=org, role=roles.VIEWER))
    assert viewer.get("/api/v1/blocklist").status_code == 200
    with nothing_written(BlocklistEntry):
        assert viewer.post("/api/v1/blocklist", {"recipient": "2025550143"}).status_code == 403
        assert viewer.delete("/api/v1/blocklist", {"recipient": "2025550144"}).status_code == 403
