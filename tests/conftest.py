"""Fixtures: organizations, users in each role, and HTTP clients carrying their API keys.

Requests go through the whole Django stack (middleware, URL resolution, DRF,
the error handlers) against the real database: PostgreSQL when DATABASE_URL is
set, SQLite otherwise.
"""

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from apikeys.models import APIKey
from connext import celery_app, roles
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


SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


@dataclass
class Worker:
    queue: str
    process: subprocess.Popen


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker(monkeypatch, django_db_setup) -> Worker:
    """A real `celery -A connext worker` process on a queue of its own (parallel runs never share
    one), on the test database when it is PostgreSQL; tasks sent during the test go to its queue."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue)
    env = {**os.environ}
    if not SQLITE:
        env["DATABASE_URL"] = _test_database_url()
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "connext", "worker", "--pool", "solo", "--queues", queue,
         "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield Worker(queue=queue, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
