"""Fixtures: organizations, users in each role, and HTTP clients carrying their API keys.

Requests go through the whole Django stack (middleware, URL resolution, DRF,
the error handlers) against the real database: PostgreSQL when DATABASE_URL is
set, SQLite otherwise.
"""

import pytest
from rest_framework.test import APIClient

from apikeys.models import APIKey
from connext import roles
from tests.factories import OrganizationFactory, UserFactory, make_api_key


class ApiClient(APIClient):
    """An API client for one key; `json` bodies by default, errors returned not raised."""

    def __init__(self, key: str | None = None, **kwargs):
        super().__init__(raise_request_exception=False, **kwargs)
        self.key = key
        if key:
            self.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    def post(self, path, data=None, format="json", **kwargs):
        return super().post(path, data, format=format, **kwargs)

    def patch(self, path, data=None, format="json", **kwargs):
        return super().patch(path, data, format=format, **kwargs)

    def delete(self, path, data=None, format="json", **kwargs):
        return super().delete(path, data, format=format, **kwargs)


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Globex")


@pytest.fixture
def admin_user(org):
    return UserFactory(organization=org, email="admin@acme.test", role=roles.ORG_ADMIN)


@pytest.fixture
def client_for():
    """client_for(user, role-less kwargs...) -> an ApiClient with a fresh key of that user."""

    def make(user, scope: str = APIKey.Scope.FULL, **kwargs) -> ApiClient:
        _, plaintext = make_api_key(user, scope=scope, **kwargs)
        return ApiClient(plaintext)

    return make


@pytest.fixture
def api(admin_user, client_for) -> ApiClient:
    """The org admin of `org`, authenticated."""
    return client_for(admin_user)


@pytest.fixture
def other_api(other_org, client_for) -> ApiClient:
    """An org admin of another organization."""
    return client_for(UserFactory(organization=other_org, email="admin@globex.test"))


@pytest.fixture
def anon() -> ApiClient:
    return ApiClient()
