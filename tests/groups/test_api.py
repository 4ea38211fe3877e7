"""GET/POST /groups, GET/PATCH/DELETE /groups/{id}: numbers per organization, clashes are 400."""

import pytest

from groups.models import Group
from tests.factories import GroupFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


def test_create_assigns_numbers_from_one(api):
    first = api.post("/api/v1/groups", {"name": "Parents"})
    second = api.post("/api/v1/groups", {"name": "Staff"})
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], "name": "Parents", "number": 1, "private": 0}
    assert second.json()["number"] == 2


def test_create_with_explicit_number_and_private(api):
    response = api.post("/api/v1/groups", {"name": "Board", "number": 40, "private": True})
    assert response.status_code == 201
    assert response.json()["number"] == 40
    assert response.json()["private"] == 1
    assert api.post("/api/v1/groups", {"name": "Next"}).json()["number"] == 41


def test_number_clash_is_400_naming_number(api):
    api.post("/api/v1/groups", {"name": "A", "number": 7})
    with nothing_written(Group):
        response = api.post("/api/v1/groups", {"name": "B", "number": 7})
    assert response.status_code == 400
    assert response.json()["message"] == "number: Group number 7 is already in use."


def test_auto_number_after_the_highest_number_there_is_is_a_400_not_an_overflow(api, org):
    # Found by the fuzzer (tests/connext/test_fuzz.py): max + 1 overflowed the integer column,
    # a 500 on PostgreSQL and a number past the schema's maximum on SQLite.
    GroupFactory(organization=org, number=2147483647)
    with nothing_written(Group):
        response = api.post("/api/v1/groups", {"name": "Next"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("number: ")
    assert list(response.json()["errors"]) == ["number"]
    assert api.post("/api/v1/groups", {"name": "Next", "number": 5}).status_code == 201  # a number given still works


def test_numbers_are_per_organization(api, other_api):
    assert api.post("/api/v1/groups", {"name": "Ours", "number": 3}).status_code == 201
    assert other_api.post("/api/v1/groups", {"name": "Theirs", "number": 3}).status_code == 201
    assert other_api.post("/api/v1/groups", {"name": "Auto"}).json()["number"] == 4
    assert api.post("/api/v1/groups", {"name": "Auto"}).json()["number"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": None}, "name"),
        ({"name": "G", "number": 0}, "number"),
        ({"name": "G", "number": -1}, "number"),
        ({"name": "G", "number": "3"}, "number"),
        ({"name": "G", "number": 2.5}, "number"),
        ({"name": "G", "number": 2**31}, "number"),
        ({"name": "G", "id": 5}, "id"),
    ],
)
def test_invalid_input_is_400_naming_the_field(api, body, field):
    with nothing_written(Group):
        response = api.post("/api/v1/groups", body)
    assert response.status_code == 400, response.json()
    assert response.json()["message"].startswith(f"{field}:")


def test_get_one(api, org):
    group = GroupFactory(organization=org, name="Choir", number=5)
    assert api.get(f"/api/v1/groups/{group.id}").json() == {"id": group.id, "name": "Choir", "number": 5, "private": 0}


def test_patch_updates_given_fields_only(api, org):
    group = GroupFactory(organization=org, name="Choir", number=5)
    response = api.patch(f"/api/v1/groups/{group.id}", {"name": "Band"})
    assert response.status_code == 200
    assert response.json() == {"id": group.id, "name": "Band", "number": 5, "private": 0}
    response = api.patch(f"/api/v1/groups/{group.id}", {"number": 9, "private": 1})
    assert response.json() == {"id": group.id, "name": "Band", "number": 9, "private": 1}
    group.refresh_from_db()
    assert (group.name, group.number, group.private) == ("Band", 9, True)


def test_patch_to_a_taken_number_is_400_and_changes_nothing(api, org):
    GroupFactory(organization=org, number=1)
    group = GroupFactory(organization=org, name="Keep", number=2)
    with nothing_written(Group):
        response = api.patch(f"/api/v1/groups/{group.id}", {"name": "Changed", "number": 1})
    assert response.status_code == 400
    assert response.json()["message"].startswith("number:")


def test_patch_to_its_own_number_is_fine(api, org):
    group = GroupFactory(organization=org, number=2)
    assert api.patch(f"/api/v1/groups/{group.id}", {"number": 2}).status_code == 200


def test_patch_invalid_is_400(api, org):
    group = GroupFactory(organization=org)
    with nothing_written(group):
        assert api.patch(f"/api/v1/groups/{group.id}", {"name": ""}).status_code == 400
        assert api.patch(f"/api/v1/groups/{group.id}", {"private": "maybe"}).status_code == 400


def test_delete_then_gone(api, org):
    group = GroupFactory(organization=org)
    assert api.delete(f"/api/v1/groups/{group.id}").status_code == 204
    assert api.get(f"/api/v1/groups/{group.id}").status_code == 404
    with nothing_written(Group):
        assert api.delete(f"/api/v1/groups/{group.id}").status_code == 404


def test_another_organizations_group_is_404_for_every_method(api, other_org):
    theirs = GroupFactory(organization=other_org, name="Secret", number=1)
    assert api.get(f"/api/v1/groups/{theirs.id}").status_code == 404
    with nothing_written(Group):
        assert api.patch(f"/api/v1/groups/{theirs.id}", {"name": "Mine"}).status_code == 404
        assert api.delete(f"/api/v1/groups/{theirs.id}").status_code == 404
    assert api.get("/api/v1/groups").json() == []


def test_list_is_ordered_by_number(api, org):
    for number in (5, 2, 9):
        GroupFactory(organization=org, number=number)
    assert [g["number"] for g in api.get("/api/v1/groups").json()] == [2, 5, 9]
