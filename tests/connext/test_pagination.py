"""limit (1-1000, default 25) / offset (>= 0); anything else is a 400 naming the parameter."""

import pytest

from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirty_groups(org):
    return [GroupFactory(organization=org, number=n) for n in range(1, 31)]


def numbers(response):
    return [g["number"] for g in response.json()]


def test_default_page_is_25_with_total(api, thirty_groups):
    response = api.get("/api/v1/groups")
    assert response.status_code == 200
    assert numbers(response) == list(range(1, 26))
    assert response["X-Total-Count"] == "30"


def test_limit_and_offset_walk_the_list(api, thirty_groups):
    assert numbers(api.get("/api/v1/groups", {"limit": 10, "offset": 0})) == list(range(1, 11))
    assert numbers(api.get("/api/v1/groups", {"limit": 10, "offset": 10})) == list(range(11, 21))
    last = api.get("/api/v1/groups", {"limit": 10, "offset": 25})
    assert numbers(last) == list(range(26, 31))
    assert last["X-Total-Count"] == "30"


def test_bounds_are_inclusive(api, thirty_groups):
    assert len(api.get("/api/v1/groups", {"limit": 1}).json()) == 1
    assert len(api.get("/api/v1/groups", {"limit": 1000}).json()) == 30


def test_offset_past_the_end_is_an_empty_page_with_the_total(api, thirty_groups):
    response = api.get("/api/v1/groups", {"offset": 500})
    assert response.status_code == 200
    assert response.json() == []
    assert response["X-Total-Count"] == "30"


def test_the_largest_offset_is_an_empty_page(api, thirty_groups):
    response = api.get("/api/v1/logs", {"offset": 2**53 - 1, "limit": 1000})
    assert response.status_code == 200 and response.json() == []


def test_empty_list_has_zero_total(api):
    response = api.get("/api/v1/groups")
    assert response.json() == []
    assert response["X-Total-Count"] == "0"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"offset": 2**63}, "offset"),  # past SQL's bigint: a 400, not a database error
        ({"limit": "+5"}, "limit"),
        ({"limit": " 5"}, "limit"),
        ({"limit": "1_0"}, "limit"),
        ({"offset": "\u0665"}, "offset"),  # ARABIC-INDIC DIGIT FIVE
    ],
)
def test_out_of_range_or_non_integer_is_400(api, params, field):
    response = api.get("/api/v1/groups", params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}:")
    assert field in response.json()["errors"]
