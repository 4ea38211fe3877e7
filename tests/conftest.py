"""Fixtures: organizations, users in each role, and HTTP clients carrying their API keys.

Requests go through the whole Django stack (middleware, URL resolution, DRF,
the error handlers) against the real database: PostgreSQL when DATABASE_URL is
set, SQLite otherwise.
"""

import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts import metering
from apikeys.models import APIKey
from connext import celery_app, roles
from connext.models import User
from tests.app_client import AppClient
from tests.factories import APIKeyFactory, GroupFactory, OrganizationFactory, SubscriberFactory, UserFactory
from webhooks import outbox, subscriptions


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


@pytest.fixture(autouse=True)
def _no_webhook_subscriptions_of_earlier_tests():
    """The cached map of webhook subscriptions and the remembered message facts are per
    process: an earlier test's endpoints and messages rolled back with it."""
    subscriptions.forget()
    outbox.forget()
    metering.forget()  # the remembered charges of messages: the same ids come back on SQLite


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
        return ApiClient(APIKeyFactory(user=user, scope=scope, **kwargs).plaintext)

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


@pytest.fixture
def browser(admin_user) -> Client:
    """The admin panel, logged in as the org admin of `org`."""
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def superuser_browser(db) -> Client:
    """The admin panel, logged in as a superuser (no organization: sees every one)."""
    client = Client()
    client.force_login(User.objects.create_superuser(email="root@connext.test", password="pw-Very-long-1"))
    return client


@pytest.fixture
def app_client() -> AppClient:
    """A test Client through `connext.wsgi.application`, the app gunicorn serves (provider
    callbacks take lean paths there that Django's test handler would skip)."""
    return AppClient()


SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


@dataclass
class Worker:
    queue: str
    process: subprocess.Popen
    log: str  # the worker's output: read it when a test fails


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def start_worker(monkeypatch, django_db_setup, tmp_path):
    """start_worker(**env) -> Worker: a real `celery -A connext worker` process (solo pool) on a
    queue of its own (parallel runs never share one), on the test database when it is PostgreSQL,
    with `env` added to its environment. Tasks sent during the test go to its queue; call it
    again for a second worker on the same queue. Every worker is stopped after the test."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    webhook_queue = f"{queue}-webhooks"  # webhook work has a queue of its own (WEBHOOK_QUEUE)
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue)
    monkeypatch.setattr(settings, "WEBHOOK_QUEUE", webhook_queue)
    processes: list[subprocess.Popen] = []

    def start(*, beat: bool = False, queues: str = f"{queue},{webhook_queue}", **extra_env) -> Worker:
        """A worker of `queues` (default both the test's queue and its webhook queue); with
        `beat`, celery beat instead, sending its periodic tasks to those queues."""
        # CELERY_QUEUE: the tasks the worker sends itself (fan-out -> dispatch) stay on its queue.
        env = {**os.environ, "CELERY_QUEUE": queue, "WEBHOOK_QUEUE": webhook_queue,
               **{k: str(v) for k, v in extra_env.items()}}  # fmt: skip
        if not SQLITE:
            env["DATABASE_URL"] = _test_database_url()
        log = tmp_path / f"{'beat' if beat else 'worker'}-{len(processes)}.log"
        loglevel = os.environ.get("TEST_WORKER_LOGLEVEL", "WARNING")
        if beat:
            # A schedule file each: two beats at once (a test of racing schedulers) share none.
            command = ["beat", "--schedule", str(tmp_path / f"beat-schedule-{len(processes)}"), "--loglevel", loglevel]
        else:
            command = ["worker", "--pool", "solo", "--queues", queues, "--loglevel", loglevel,
                       "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "connext", *command],
                cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        processes.append(process)
        return Worker(queue=queue, process=process, log=str(log))

    start.queue, start.webhook_queue = queue, webhook_queue
    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def celery_worker(start_worker) -> Worker:
    """One real worker process (see start_worker)."""
    return start_worker()


@pytest.fixture
def run_jobs(monkeypatch, django_capture_on_commit_callbacks):
    """run_jobs(send, ...) -> response: the request's after-commit tasks (fan-out, dispatch, the
    console's delivery receipt) run in this process before it returns."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)

    def run(send, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return send(*args, **kwargs)

    return run


@pytest.fixture
def audience(org):
    """Group 1 (five reachable people and the ones a blast must skip), group 2, dnc group 3."""
    g1 = GroupFactory(organization=org, name="Parents", number=1)
    g2 = GroupFactory(organization=org, name="Staff", number=2)
    g3 = GroupFactory(organization=org, name="Do not contact", number=3)

    def person(first, phone="", email="", groups=(g1,), text=True, **kwargs):
        return SubscriberFactory(organization=org, first=first, last="Lovelace", phone=phone, email=email, text=text,
                                 groups=groups, **kwargs)  # fmt: skip

    people = {
        "ada": person("Ada", "+12025550101", "ada@example.com", groups=(g1, g2)),
        "bob": person("Bob", "+12025550102", "bob@example.com"),
        "cy": person("", "+12025550103"),  # no first name: fallbacks
        "dee": person("Dee", email="dee@example.com"),  # email only
        "eve": person("Eve", "+12025550105", text=False),  # a landline: no texts
        "off": person("Off", "+12025550106", "off@example.com", enabled=False),
        "dnc": person("Dnc", "+12025550107", "dnc@example.com", groups=(g1, g3)),
        "outsider": person("Out", "+12025550108", "out@example.com", groups=(g2,)),
    }
    return people


def _wait_until_blocked(thread, timeout: float = 10.0) -> None:
    """Return once a session of the test database waits for a lock (the contender in `thread`
    reached the contested row); fail if the thread ended first."""
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        assert thread.is_alive(), "the contender finished without waiting for the row"
        assert time.monotonic() < deadline, "the contender never waited for the row"
        time.sleep(0.02)


def contend_while_held(hold, contend):
    """A PostgreSQL race, step by step: `hold()` runs in a transaction of its own thread, left
    open; `contend()` then runs in another thread until it waits for a lock; then the first
    transaction commits. Returns (what hold returned, what contend returned); an exception in
    either thread is raised here. Needs django_db(transaction=True)."""
    outcome, held, release = {}, threading.Event(), threading.Event()

    def run(name, body):
        try:
            outcome[name] = body()
        except Exception as exc:
            outcome[f"{name} error"] = exc
        finally:
            held.set()  # an error in hold must not leave the test waiting
            connections.close_all()

    def holder():
        def in_transaction():
            with transaction.atomic():
                result = hold()
                held.set()
                release.wait(10)
                return result

        run("hold", in_transaction)

    first = threading.Thread(target=holder)
    first.start()
    assert held.wait(10)
    second = threading.Thread(target=run, args=("contend", contend))
    if "hold error" not in outcome:
        second.start()
    try:
        if second.is_alive():
            _wait_until_blocked(second)
    finally:
        release.set()
        first.join(20)
        if second.ident is not None:
            second.join(20)
    for error in ("hold error", "contend error"):
        if error in outcome:
            raise outcome[error]
    return outcome["hold"], outcome["contend"]
