"""The /api/v1 conventions of API.md, checked through HTTP on the groups resource."""

import pytest

from groups.models import Group
from tests.factories import GroupFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("suffix", ["", "/"])
def test_trailing_slash_is_optional_for_every_method(api, suffix):
    created = api.post(f"/api/v1/groups{suffix}", {"name": "Staff"})
    assert created.status_code == 201
    group_id = created.json()["id"]

    listed = api.get(f"/api/v1/groups{suffix}")
    assert listed.status_code == 200
    assert [g["id"] for g in listed.json()] == [group_id]

    assert api.get(f"/api/v1/groups/{group_id}{suffix}").status_code == 200
    patched = api.patch(f"/api/v1/groups/{group_id}{suffix}", {"name": "Team"})
    assert patched.status_code == 200 and patched.json()["name"] == "Team"
    assert api.delete(f"/api/v1/groups/{group_id}{suffix}").status_code == 204


def test_list_is_a_bare_array_with_total_header(api, org):
    GroupFactory.create_batch(3, organization=org)
    response = api.get("/api/v1/groups")
    assert isinstance(response.json(), list)
    assert response["X-Total-Count"] == "3"


def test_booleans_are_returned_as_integers_and_accepted_in_both_forms(api):
    for given, stored in [(True, 1), (False, 0), (1, 1), (0, 0), ("true", 1), ("false", 0)]:
        response = api.post("/api/v1/groups", {"name": "G", "private": given})
        assert response.status_code == 201, response.json()
        assert response.json()["private"] == stored


@pytest.mark.parametrize("value", ["yes", 2, 1.0, None, [], {}])
def test_other_boolean_values_are_400_naming_the_field(api, value):
    with nothing_written(Group):
        response = api.post("/api/v1/groups", {"name": "G", "private": value})
    assert response.status_code == 400
    assert response.json()["message"].startswith("private:")
    assert "private" in response.json()["errors"]


def test_timestamps_and_ids_are_plain_json(api):
    body = api.post("/api/v1/groups", {"name": "G"}).json()
    assert set(body) == {"id", "name", "number", "private"}
    assert isinstance(body["id"], int)


def test_delete_has_no_body(api, org):
    group = GroupFactory(organization=org)
    response = api.delete(f"/api/v1/groups/{group.id}")
    assert response.status_code == 204
    assert response.content == b""
    assert not Group.objects.filter(pk=group.pk).exists()
