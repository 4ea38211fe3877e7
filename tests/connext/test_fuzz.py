"""Schemathesis fuzzes the API from its own schema: the served /api/v1/openapi.json, every
operation, as a full-scope key of an org admin, in-process through `connext.wsgi.application`
(the app gunicorn serves) on the test database.

It holds the server and the schema to each other:
- no 5xx, whatever the request (`not_a_server_error`);
- every response conforms: a documented status code, a body and headers matching the
  schema, the documented content type (`status_code_conformance`, `response_schema_conformance`,
  `response_headers_conformance`, `content_type_conformance`);
- a request the schema calls invalid is refused with a 4xx (`negative_data_rejection`), an
  undeclared method is a 405 with `Allow` (`unsupported_method`), and
- a request the schema calls valid is not refused with a 4xx (`positive_data_acceptance`),
  except for the rules listed in BUSINESS_RULES, which no JSON schema can state (a phone that
  libphonenumber rejects, a group number that does not exist, a number already taken...);
  any other refusal of a schema-valid request means the schema is not exact: fix the schema
  (connext/schema.py), not this list.

The run is reproducible: a fixed seed, derandomized generation, no example database, and a
bounded number of examples: about 4,700 requests, 25 s on SQLite and 35 s on PostgreSQL in
one process, the same requests on both (`./dev test` spreads the 29 operations and the
workflows over the xdist workers). A failure prints the request as a curl command: replay it
with `ApiClient` in a plain test, fix the app or the schema, and keep that test as the
regression.
"""

import hashlib
import ipaddress
import json
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apikeys.models import APIKey, hash_key
from apikeys.services import generate_key
from connext.wsgi import application
from tests.conftest import SQLITE
from tests.factories import UserFactory

# Hypothesis keeps caches (constants it found in the code, Unicode tables) out of the work tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "connext-hypothesis")

SEED = 20261205
MAX_EXAMPLES = 50  # per operation in the fuzzing phase; the coverage phase adds its own boundary cases
WORKFLOWS = 30  # stateful scenarios (create, then read, update, delete what was created)
WORKFLOW_STEPS = 8

# The one key the fuzzer sends; each test makes it anew in its own (rolled back) transaction,
# and each xdist worker has its own test database.
KEY = generate_key()

# Refusals (400) of schema-valid requests that are the server's business, matched on the
# messages of `errors` (or `message` when there is no `errors`): every one must be here.
BUSINESS_RULES = (
    # Phones and emails: libphonenumber's metadata and Django's EmailValidator, no JSON pattern.
    "is not a phone number.",
    "is not a valid phone number.",
    "is not a valid email address.",
    # Across fields or rows: one of two fields, uniqueness, references to rows that must exist.
    "A phone or an email is required.",
    "A subscriber needs a phone or an email.",
    "already exists.",
    "is already in use.",
    "is taken, so none can be assigned after it",
    "Unknown group number(s)",
    "is not on the blocklist",
    "Give exactly one source",
    # What a blast needs depends on its types: a message, a subject, media, a recording.
    "Required for ",
    "An mms needs a message or media.",
    "Only for voice or audio.",
    "At most 1600 characters for a text.",
    # A test blast goes to the caller's own phone or email.
    "Your user has no ",
    "Your address is on the blocklist",
    # Import URLs: fetched by the server, so they must resolve to a public address (SSRF guard).
    "Only http and https URLs are allowed.",
    "Not a valid URL.",
    "The URL has no host.",
    "Credentials in the URL are not allowed.",
    "does not resolve.",
    "is a private, loopback, link-local or reserved address.",
    # Canceling a blast with nothing left to cancel.
    "Nothing left to cancel",
    # Custom attributes: names by a pattern and a size in bytes, which OpenAPI 3.0 cannot state for an
    # object's keys; a PATCH merges into what the subscriber has; filters name attributes in use.
    "is not an attribute name",
    "bytes of attributes",
    "attributes per subscriber",
    "Unknown attribute(s)",
    "Filters are on attributes",
    # Who a blast reaches: groups, where or a segment (one of them), a segment of the organization.
    "Give groups, a segment or where",
    "Unknown segment",
    "Only for whatsapp or rcs.",
    # Date ranges (ledger, analytics): an end before the start, a period too long to report.
    "Must not be before `from`.",
    "days from `from`.",
    # Credits moved to or from a sub-account: neither balance may go below zero; zero moves nothing.
    "Cannot move ",
    "Must not be zero.",
)


def business_rule_only(response) -> bool:
    if response.status_code != 400:
        return False
    body = response.json()
    messages = [message for messages in body.get("errors", {}).values() for message in messages]
    return all(any(rule in message for rule in BUSINESS_RULES) for message in messages or [body["message"]])


@schemathesis.check
def schema_valid_requests_accepted(ctx, response, case):
    """positive_data_acceptance, but for a 400 that only names BUSINESS_RULES."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if business_rule_only(response):
            return None
        raise


@schemathesis.hook
def before_call(context, case, kwargs):
    """One Idempotency-Key per distinct request. The fuzzer draws keys from a small pool, and a
    key sent again with another request is a 422 (as documented), which would hide nearly every
    write behind it; a key sent again with the same request still replays. Invalid keys (blank,
    too long) are sent as drawn."""
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and key.strip() and len(key) <= 255:
        request = json.dumps([case.method, case.path_parameters, case.query, case.body], sort_keys=True, default=repr)
        case.headers["Idempotency-Key"] = f"{key[:242]}~{hashlib.sha256(request.encode()).hexdigest()[:12]}"


def app(environ, start_response):
    """connext.wsgi.application inside the test's transaction: Django's request signals would
    close the test's connection (as in tests/app_client.py)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        try:
            body = b"".join(chunks)  # a streamed body (the CSV export) is read while disconnected
        finally:
            getattr(chunks, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return [body]


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "auth": {"openapi": {"bearerAuth": {"bearer": KEY}}},
        "generation": {
            "mode": "all",  # schema-valid and schema-invalid requests
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "checks": {
            "enabled": True,
            # On SQLite, a scenario's rollback (below) also takes back the ids it handed out, so a
            # later scenario's new group gets a deleted one's id: not a deleted resource served.
            # PostgreSQL never hands an id out twice, and CI runs this there.
            "use_after_free": {"enabled": not SQLITE},
            # Replaced by schema_valid_requests_accepted, which reads these statuses. 409 and 422:
            # an externalId or an Idempotency-Key used again (the fuzzer repeats values).
            "positive_data_acceptance": {
                "enabled": False,
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"],
            },
        },
    }
)
# Loaded at collection (the schema endpoint needs no database): one test per operation, which
# xdist spreads over its workers.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)

HYPOTHESIS = settings(
    deadline=None,
    # The organization and key are made once per operation, not per example, on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def fuzz_key(org, monkeypatch):
    """The org admin's full-scope key, the organization's rate limit out of the way; no DNS
    (import URLs are resolved: a made-up host fails at once instead of asking the network)."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "No DNS in the fuzz test.") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    org.rate_limit = 1_000_000
    org.save(update_fields=["rate_limit"])
    admin = UserFactory(organization=org, email="fuzz@acme.test")
    APIKey.objects.create(user=admin, organization=org, name="fuzz", key_hash=hash_key(KEY))


@contextmanager
def rolled_back():
    """What a request writes is undone after it: every example starts from the fixture's rows,
    so Hypothesis replays a failure exactly (shrinking it) instead of calling it flaky."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.mark.django_db
@schema.parametrize()
@HYPOTHESIS
def test_operation(case, fuzz_key):
    if case.meta is not None and case.meta.phase.name.value == "fuzzing":
        with rolled_back():
            case.call_and_validate()
    else:  # examples and coverage cases: a fixed list, run once in order, never shrunk
        case.call_and_validate()


class Workflow(schema.as_state_machine()):
    """Each scenario in a savepoint rolled back at its end (see rolled_back); on SQLite the ids
    it used are handed out again (see CONFIG)."""

    def setup(self):
        self._scenario = rolled_back()
        self._scenario.__enter__()

    def teardown(self):
        self._scenario.__exit__(None, None, None)


@pytest.mark.django_db
def test_workflows(fuzz_key):
    """Sequences over the links schemathesis infers from the schema (POST /groups -> GET, PATCH,
    DELETE /groups/{id}; the same for subscribers, templates, imports and logs)."""
    Workflow.run(
        settings=settings(
            HYPOTHESIS,
            max_examples=WORKFLOWS,
            stateful_step_count=WORKFLOW_STEPS,
            derandomize=True,
            database=None,
        )
    )
