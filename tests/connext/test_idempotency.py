"""Idempotency-Key: a repeat replays, a different body is 422, one still running is 409."""

import pytest

from connext.models import IdempotencyRecord
from groups.models import Group
from tests.factories import GroupFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("body", "status"), [({"name": "Once"}, 201), ({"name": ""}, 400)], ids=["201", "400"])
def test_repeat_replays_the_first_response_without_acting_again(api, body, status):
    """A success or a validation error alike: the repeat gets the stored answer and writes nothing."""
    first = api.post("/api/v1/groups", body, HTTP_IDEMPOTENCY_KEY="k-1")
    with nothing_written(Group, IdempotencyRecord):
        again = api.post("/api/v1/groups", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == status
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Group.objects.count() == (1 if status == 201 else 0)


def test_the_trailing_slash_is_the_same_endpoint(api):
    first = api.post("/api/v1/groups", {"name": "Once"}, HTTP_IDEMPOTENCY_KEY="k-slash")
    again = api.post("/api/v1/groups/", {"name": "Once"}, HTTP_IDEMPOTENCY_KEY="k-slash")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and Group.objects.count() == 1


def test_the_same_json_in_another_key_order_or_spacing_is_the_same_request(api):
    first = api.post("/api/v1/groups", b'{"name": "Once", "private": 0}', format=None, content_type="application/json",
                     HTTP_IDEMPOTENCY_KEY="k-order")  # fmt: skip
    again = api.post("/api/v1/groups", b'{"private":0,"name":"Once"}', format=None, content_type="application/json",
                     HTTP_IDEMPOTENCY_KEY="k-order")  # fmt: skip
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and Group.objects.count() == 1


def test_same_key_with_another_body_is_422(api):
    api.post("/api/v1/groups", {"name": "Once"}, HTTP_IDEMPOTENCY_KEY="k-2")
    with nothing_written(Group):
        response = api.post("/api/v1/groups", {"name": "Twice"}, HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response.json()["message"].startswith("Idempotency-Key:")


def test_same_key_on_another_path_is_422(api, org):
    group = GroupFactory(organization=org)
    api.post("/api/v1/groups", {"name": "G2"}, HTTP_IDEMPOTENCY_KEY="k-3")
    with nothing_written(Group):
        response = api.patch(f"/api/v1/groups/{group.id}", {"name": "G2"}, HTTP_IDEMPOTENCY_KEY="k-3")
    assert response.status_code == 422


def test_same_key_while_the_first_is_running_is_409(api, admin_user):
    api.post("/api/v1/groups", {"name": "Slow"}, HTTP_IDEMPOTENCY_KEY="k-4")
    IdempotencyRecord.objects.filter(key="k-4").update(completed=False)  # as if still in flight
    with nothing_written(Group):
        response = api.post("/api/v1/groups", {"name": "Slow"}, HTTP_IDEMPOTENCY_KEY="k-4")
    assert response.status_code == 409
    assert "still being processed" in response.json()["message"]


def test_keys_belong_to_the_api_key_that_sent_them(api, admin_user, client_for):
    api.post("/api/v1/groups", {"name": "Mine"}, HTTP_IDEMPOTENCY_KEY="shared")
    other = client_for(admin_user).post("/api/v1/groups", {"name": "Mine"}, HTTP_IDEMPOTENCY_KEY="shared")
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other
    assert Group.objects.count() == 2


def test_patch_is_idempotent(api, org):
    group = GroupFactory(organization=org)
    first = api.patch(f"/api/v1/groups/{group.id}", {"name": "H"}, HTTP_IDEMPOTENCY_KEY="p-1")
    Group.objects.filter(pk=group.pk).update(name="changed meanwhile")
    again = api.patch(f"/api/v1/groups/{group.id}", {"name": "H"}, HTTP_IDEMPOTENCY_KEY="p-1")
    assert again.json() == first.json()
    group.refresh_from_db()
    assert group.name == "changed meanwhile"  # the replay did not write again


def test_oversized_key_is_400(api):
    with nothing_written(Group):
        response = api.post("/api/v1/groups", {"name": "G"}, HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Idempotency-Key:")
