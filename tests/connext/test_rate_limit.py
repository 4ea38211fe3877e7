"""Per-key rate limit from the organization: X-RateLimit-* on every response, 429 + Retry-After past it."""

import pytest

from apikeys.models import APIKey
from groups.models import Group
from tests.factories import UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


def test_every_response_carries_the_window(api, org):
    response = api.get("/api/v1/groups")
    assert response["X-RateLimit-Limit"] == "600"  # the server default
    assert int(response["X-RateLimit-Remaining"]) == 599
    assert int(response["X-RateLimit-Reset"]) > 1_700_000_000
    error = api.get("/api/v1/groups/123456")
    assert error.status_code == 404
    assert int(error["X-RateLimit-Remaining"]) == 598


def test_over_the_organization_limit_is_429_with_retry_after(api, org, admin_user, client_for):
    org.rate_limit = 3
    org.save()
    remaining = [api.get("/api/v1/groups")["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]

    with nothing_written(Group):
        blocked = api.post("/api/v1/groups", {"name": "too many"})
    assert blocked.status_code == 429
    assert blocked["Content-Type"] == "application/json"
    assert "throttled" in blocked.json()["message"]
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert blocked["X-RateLimit-Remaining"] == "0"

    # The limit is per key: a second key of the same user has its own window.
    assert client_for(admin_user).get("/api/v1/groups").status_code == 200


def test_unauthenticated_requests_carry_no_window(anon):
    response = anon.get("/api/v1/groups")
    assert response.status_code == 401
    assert "X-RateLimit-Limit" not in response


def test_refused_requests_count_and_carry_the_window(org, client_for):
    send_only = client_for(UserFactory(organization=org), scope=APIKey.Scope.SEND)
    first = send_only.get("/api/v1/groups")
    second = send_only.get("/api/v1/groups")
    assert first.status_code == second.status_code == 403
    assert int(first["X-RateLimit-Remaining"]) - int(second["X-RateLimit-Remaining"]) == 1
