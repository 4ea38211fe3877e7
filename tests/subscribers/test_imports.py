"""Subscriber imports: POST /subscribers/imports starts a job, the Celery task runs it for real,
GET /subscribers/imports/{id} shows what happened (and notifyUrl is told)."""

import ast
import json
import random
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.validators import validate_email
from django.utils import timezone

from connext import celery_app
from subscribers import imports
from subscribers.addresses import InvalidAddress, normalize_email, normalize_phone
from subscribers.models import ImportJob, Subscriber
from subscribers.tasks import run_import
from tests.conftest import SQLITE
from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db

IMPORTS = "/api/v1/subscribers/imports"


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture
def run_jobs(monkeypatch, django_capture_on_commit_callbacks):
    """start(request) -> response: the request's on_commit callbacks run, and with them the task, in-process."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)

    def start(send, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return send(*args, **kwargs)

    return start


def upload(api, content, name="subscribers.csv", content_type="text/csv", **fields):
    if isinstance(content, str):
        content = content.encode()
    data = {"file": SimpleUploadedFile(name, content, content_type=content_type), **fields}
    return api.post(IMPORTS, data, format="multipart")


def job_of(api, response) -> dict:
    assert response.status_code == 202, response.content
    detail = api.get(f"{IMPORTS}/{response.json()['id']}")
    assert detail.status_code == 200
    return detail.json()


def subscriber(**lookup) -> Subscriber:
    return Subscriber.objects.get(**lookup)


def assert_nothing_written(jobs: int = 0) -> None:
    """A refused request stored no job (`jobs` existed before it) and no subscriber. Refusal tests
    send through run_jobs, so a job let through by mistake would also have run and written rows."""
    assert ImportJob.objects.count() == jobs
    assert Subscriber.objects.count() == 0


class Recorder(BaseHTTPRequestHandler):
    """Serves `routes` (path -> (status, headers, body)) and records every request."""

    def do_GET(self):
        self.server.requests.append(("GET", self.path, self.headers, b""))
        status, headers, body = self.server.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(("POST", self.path, self.headers, body))
        status = self.server.routes.get(self.path, (204, {}, b""))[0]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A loopback HTTP server: `.routes[path] = (status, headers, body)`, `.requests`, `.url(path)`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.routes, server.requests = {}, []
    server.url = lambda path: f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_urls(settings):
    settings.ALLOW_PRIVATE_URLS = True


# --- sources ---------------------------------------------------------------------------


def test_csv_upload_with_aliases_and_mixed_case_headers(api, org, run_jobs):
    csv = (
        "First Name,SURNAME,Mobile,E-Mail,Street,Town,Province,Postal Code,Enabled,TEXT,Favorite Color\n"
        "Ann,Lee,(212) 555-0142,Ann@Example.COM,1 Main St,Springfield,IL,62701,0,true,blue\n"
        "Bob,,+1 646 555 0199,,,,,,,,\n"
    )
    response = run_jobs(upload, api, csv)

    assert response.status_code == 202
    assert set(response.json()) == {"id", "status"}
    assert response["Location"] == f"{IMPORTS}/{response.json()['id']}"
    job = job_of(api, response)
    assert job["status"] == "done"
    assert (job["total"], job["created"], job["updated"], job["skipped"], job["errors"]) == (2, 2, 0, 0, [])
    assert job["createdAt"].endswith("Z") and job["finishedAt"].endswith("Z")
    ann = subscriber(phone="+12125550142")
    assert (ann.first, ann.last, ann.email, ann.address, ann.city, ann.state, ann.zip) == (
        "Ann", "Lee", "ann@example.com", "1 Main St", "Springfield", "IL", "62701"
    )  # fmt: skip
    assert (ann.enabled, ann.text, ann.organization_id) == (False, True, org.pk)
    bob = subscriber(phone="+16465550199")
    assert (bob.first, bob.email, bob.enabled, bob.text) == ("Bob", "", True, False)
    assert ImportJob.objects.get(pk=job["id"]).payload is None  # the file is dropped once imported


def test_semicolon_csv_with_bom_and_crlf(api, run_jobs):
    csv = "\ufeffemail;first\r\nzoe@example.com;Zoé\r\n"
    job = job_of(api, run_jobs(upload, api, csv.encode()))
    assert (job["status"], job["created"]) == ("done", 1)
    assert subscriber(email="zoe@example.com").first == "Zoé"


def test_json_file_upload(api, run_jobs):
    rows = [
        {"Phone_Number": "2125550142", "FNAME": "Ann", "enabled": 1, "text": False, "notes": "ignored"},
        {"email": "BOB@example.com", "last_name": "Ray", "zip": 10001},
    ]
    # Detected by the first character: neither the name nor the content type says JSON.
    response = run_jobs(upload, api, json.dumps(rows), name="export", content_type="application/octet-stream")
    job = job_of(api, response)
    assert (job["status"], job["created"], job["errors"]) == ("done", 2, [])
    assert subscriber(phone="+12125550142").first == "Ann"
    bob = subscriber(email="bob@example.com")
    assert (bob.last, bob.zip) == ("Ray", "10001")


def test_json_body_subscribers(api, run_jobs):
    response = run_jobs(
        api.post,
        IMPORTS,
        {"subscribers": [{"phone": "+447911123456", "first": "Nia"}, {"email": "sam@example.com"}]},
    )
    job = job_of(api, response)
    assert (job["status"], job["total"], job["created"]) == ("done", 2, 2)
    assert subscriber(phone="+447911123456").first == "Nia"


def test_url_import_from_a_loopback_server(api, http_server, private_urls, run_jobs):
    http_server.routes["/lists/march"] = (200, {"Content-Type": "text/csv"}, b"phone,first\n2125550142,Ann\n")
    http_server.routes["/moved"] = (302, {"Location": "/lists/march"}, b"")

    job = job_of(api, run_jobs(api.post, IMPORTS, {"url": http_server.url("/moved")}))

    assert (job["status"], job["created"]) == ("done", 1)
    assert subscriber(phone="+12125550142").first == "Ann"
    assert [(method, path) for method, path, *_ in http_server.requests] == [("GET", "/moved"), ("GET", "/lists/march")]


def test_every_redirect_is_checked_again(api, http_server, private_urls, run_jobs):
    http_server.routes["/elsewhere"] = (301, {"Location": "ftp://files.example.com/list.csv"}, b"")
    job = job_of(api, run_jobs(api.post, IMPORTS, {"url": http_server.url("/elsewhere")}))
    assert (job["status"], job["failure"]) == ("failed", "Only http and https URLs are allowed.")


def test_url_that_fails_fails_the_job_with_a_message(api, http_server, private_urls, run_jobs):
    job = job_of(api, run_jobs(api.post, IMPORTS, {"url": http_server.url("/missing.csv")}))
    assert job["status"] == "failed"
    assert "404" in job["failure"] and job["finishedAt"]


def test_url_larger_than_the_limit_fails_the_job(api, http_server, private_urls, settings, run_jobs):
    settings.IMPORT_MAX_BYTES = 100
    http_server.routes["/big.csv"] = (200, {}, b"phone\n" + b"2125550142\n" * 20)
    job = job_of(api, run_jobs(api.post, IMPORTS, {"url": http_server.url("/big.csv")}))
    assert job["status"] == "failed"
    assert "larger than the 100 bytes allowed" in job["failure"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254", "0.0.0.0",
     "[2002:a9fe:a9fe::1]", "[::ffff:a9fe:a9fe]", "[64:ff9b::a00:1]", "[fec0::1]"],  # IPv4 inside IPv6; site-local
)  # fmt: skip
def test_private_urls_are_refused_without_allow_private_urls(api, settings, host, run_jobs):
    settings.ALLOW_PRIVATE_URLS = False
    response = run_jobs(api.post, IMPORTS, {"url": f"http://{host}:8080/list.csv"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("url: ")
    assert_nothing_written()


def test_the_loopback_server_url_is_refused_without_allow_private_urls(api, http_server, settings, run_jobs):
    settings.ALLOW_PRIVATE_URLS = False
    response = run_jobs(api.post, IMPORTS, {"url": http_server.url("/list.csv")})
    assert response.status_code == 400
    assert "errors" in response.json() and "url" in response.json()["errors"]
    assert http_server.requests == []
    assert_nothing_written()


def test_ftp_url_is_refused(api, private_urls, run_jobs):
    response = run_jobs(api.post, IMPORTS, {"url": "ftp://example.com/list.csv"})
    assert response.status_code == 400
    assert response.json()["message"] == "url: Only http and https URLs are allowed."
    assert_nothing_written()


def test_notify_url_on_a_private_address_is_refused(api, settings, run_jobs):
    settings.ALLOW_PRIVATE_URLS = False
    body = {"subscribers": [{"email": "a@example.com"}], "notifyUrl": "http://127.0.0.1:9/done"}
    response = run_jobs(api.post, IMPORTS, body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("notifyUrl: ")
    assert_nothing_written()


# --- options ---------------------------------------------------------------------------


def test_groups_option_adds_every_imported_subscriber(api, org, run_jobs):
    first, second = GroupFactory(organization=org, number=1), GroupFactory(organization=org, number=7)
    existing = Subscriber.objects.create(organization=org, phone="+12125550142")
    csv = "phone\n212-555-0142\n646.555.0199\n"
    job = job_of(api, run_jobs(upload, api, csv, groups="1,7"))
    assert (job["created"], job["updated"]) == (1, 1)
    assert set(existing.groups.all()) == {first, second}
    assert set(subscriber(phone="+16465550199").groups.all()) == {first, second}


def test_groups_in_a_json_body(api, org, run_jobs):
    group = GroupFactory(organization=org, number=3)
    job = job_of(api, run_jobs(api.post, IMPORTS, {"subscribers": [{"email": "a@example.com"}], "groups": [3]}))
    assert job["created"] == 1
    assert list(subscriber(email="a@example.com").groups.all()) == [group]


def test_a_groups_column_adds_each_row_to_its_own_groups_too(api, org, other_org, run_jobs):
    one, two, seven = (GroupFactory(organization=org, number=n) for n in (1, 2, 7))
    GroupFactory(organization=other_org, number=9)  # another organization's group is unknown here
    existing = Subscriber.objects.create(organization=org, phone="+12125550142")
    existing.groups.add(one)
    csv = (
        "phone,email,groups\n212-555-0142,,2\n,ada@example.com,1 2\n646.555.0199,,\n"
        ",bob@example.com,9\n,cy@example.com,x\n"
    )
    job = job_of(api, run_jobs(upload, api, csv, groups="7"))
    assert (job["created"], job["updated"], job["skipped"]) == (2, 1, 2)
    assert job["errors"] == [
        {"line": 5, "message": "groups: Unknown group number(s): 9."},
        {"line": 6, "message": "groups: Must be group numbers, e.g. 1 4."},
    ]
    assert set(existing.groups.all()) == {one, two, seven}  # added to, never taken from
    assert set(subscriber(email="ada@example.com").groups.all()) == {one, two, seven}
    assert set(subscriber(phone="+16465550199").groups.all()) == {seven}


def test_a_json_row_names_its_groups_as_a_list(api, org, run_jobs):
    one, two = GroupFactory(organization=org, number=1), GroupFactory(organization=org, number=2)
    rows = [{"email": "a@example.com", "groups": [1, 2]}, {"email": "b@example.com", "groups": "2"}]
    job = job_of(api, run_jobs(api.post, IMPORTS, {"subscribers": rows}))
    assert job["created"] == 2
    assert set(subscriber(email="a@example.com").groups.all()) == {one, two}
    assert set(subscriber(email="b@example.com").groups.all()) == {two}


def test_an_export_imported_again_keeps_the_memberships(api, org, run_jobs):
    one, two = GroupFactory(organization=org, number=1), GroupFactory(organization=org, number=2)
    ada = Subscriber.objects.create(organization=org, first="Ada", phone="+12125550142")
    ada.groups.add(one, two)
    Subscriber.objects.create(organization=org, first="Bob", email="bob@example.com").groups.add(two)
    exported = b"".join(api.get("/api/v1/subscribers/export").streaming_content)
    Subscriber.objects.all().delete()
    job = job_of(api, run_jobs(upload, api, exported, name="export.csv"))
    assert (job["created"], job["errors"]) == (2, [])
    assert set(subscriber(first="Ada").groups.all()) == {one, two}
    assert set(subscriber(first="Bob").groups.all()) == {two}


def test_unknown_group_is_400_naming_groups(api, org, other_org, run_jobs):
    GroupFactory(organization=org, number=1)
    GroupFactory(organization=other_org, number=2)  # another organization's group is unknown here
    response = run_jobs(upload, api, "phone\n2125550142\n", groups="1,2")
    assert response.status_code == 400
    assert response.json()["message"] == "groups: Unknown group number(s): 2."
    assert_nothing_written()


@pytest.mark.parametrize("groups", ["1,x", "+1", "1_0", "\u0661", "0", "1 2"])
def test_malformed_groups_is_400(api, org, groups, run_jobs):
    GroupFactory(organization=org, number=1)
    GroupFactory(organization=org, number=10)
    response = run_jobs(upload, api, "phone\n2125550142\n", groups=groups)
    assert response.status_code == 400
    assert response.json()["message"].startswith("groups: ")
    assert_nothing_written()


def test_groups_text_takes_what_its_schema_pattern_says(api, org):
    # The schema's pattern (any whitespace str.strip() removes, around ASCII digits) and the
    # server agree: "\x1c1" was refused by int() though the pattern allows it (found by the fuzzer).
    GroupFactory(organization=org, number=1)
    GroupFactory(organization=org, number=2)
    response = upload(api, "phone\n2125550142\n", groups="\x1c1\u2028 ,, 002 ")
    assert response.status_code == 202, response.content
    assert ImportJob.objects.get().group_numbers == [1, 2]


@pytest.mark.parametrize("value", ["1", "true", 1, True])
def test_update_existing_on_updates_non_empty_values(api, org, run_jobs, value):
    ann = Subscriber.objects.create(
        organization=org, phone="+12125550142", first="Ann", last="Lee", city="Boston", enabled=True
    )
    rows = [{"phone": "2125550142", "first": "Anne", "last": "", "email": "anne@example.com", "enabled": 0}]
    job = job_of(api, run_jobs(api.post, IMPORTS, {"subscribers": rows, "updateExisting": value}))
    assert (job["created"], job["updated"], job["skipped"]) == (0, 1, 0)
    ann.refresh_from_db()
    assert (ann.first, ann.last, ann.city, ann.email, ann.enabled) == (
        "Anne",
        "Lee",
        "Boston",
        "anne@example.com",
        False,
    )


def test_existing_subscribers_without_a_phone_or_an_email_are_updated_one_by_one(api, org, run_jobs):
    # An empty phone (or email) is no address: two email-only subscribers don't "share" a phone.
    Subscriber.objects.create(organization=org, email="a@example.com")
    Subscriber.objects.create(organization=org, email="b@example.com")
    Subscriber.objects.create(organization=org, phone="+12125550142")
    rows = [{"email": "a@example.com", "first": "A"}, {"email": "b@example.com", "first": "B"}]
    rows += [{"phone": "2125550142", "first": "C"}, {"email": "c@example.com", "first": "D"}]
    job = job_of(api, run_jobs(api.post, IMPORTS, {"subscribers": rows}))
    assert (job["created"], job["updated"], job["errors"]) == (1, 3, [])
    assert dict(Subscriber.objects.values_list("first", "email")) == {
        "A": "a@example.com", "B": "b@example.com", "C": "", "D": "c@example.com"
    }  # fmt: skip


@pytest.mark.parametrize("value", ["0", "false", 0, False])
def test_update_existing_off_leaves_existing_subscribers_untouched(api, org, run_jobs, value):
    group = GroupFactory(organization=org, number=1)
    ann = Subscriber.objects.create(organization=org, email="ann@example.com", first="Ann")
    csv = "email,first\nANN@example.com,Anne\nnew@example.com,New\n"
    job = job_of(api, run_jobs(upload, api, csv, updateExisting=str(value).lower(), groups="1"))
    assert (job["total"], job["created"], job["updated"], job["skipped"], job["errors"]) == (2, 1, 0, 1, [])
    ann.refresh_from_db()
    assert ann.first == "Ann" and not ann.groups.exists()
    assert list(subscriber(email="new@example.com").groups.all()) == [group]


def test_bad_update_existing_is_400(api, run_jobs):
    response = run_jobs(api.post, IMPORTS, {"subscribers": [{"email": "a@example.com"}], "updateExisting": "maybe"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("updateExisting: ")
    assert_nothing_written()


# --- bad rows ---------------------------------------------------------------------------


def test_bad_rows_are_skipped_and_reported_with_their_line(api, org, run_jobs):
    Subscriber.objects.create(organization=org, phone="+13125550101")
    Subscriber.objects.create(organization=org, email="taken@example.com")
    csv = (
        "phone,email,first,enabled\n"  # line 1
        "2125550142,ann@example.com,Ann,1\n"  # 2: created
        "555,,Bad phone,\n"  # 3
        ",not-an-email,Bad email,\n"  # 4
        "\n"  # 5: blank, not a row
        ",,Nobody,\n"  # 6
        '6465550199,,"Two\nlines",yes\n'  # 7-8: a quoted field spans two lines; bad enabled
        "(212) 555-0142,,Again,\n"  # 9: same phone as line 2
        "6465550123,ANN@example.com,Again,\n"  # 10: same email as line 2
        "3125550101,taken@example.com,Split,\n"  # 11: phone is one subscriber, email another
        "7185550100,,Fine,0\n"  # 12: created
    )
    job = job_of(api, run_jobs(upload, api, csv))
    assert job["status"] == "done"
    assert (job["total"], job["created"], job["updated"], job["skipped"]) == (9, 2, 0, 7)
    assert job["errors"] == [
        {"line": 3, "message": "phone: '555' is not a valid phone number."},
        {"line": 4, "message": "email: 'not-an-email' is not a valid email address."},
        {"line": 6, "message": "phone: A phone or an email is required."},
        {"line": 7, "message": "enabled: Must be a boolean: true/false or 0/1."},
        {"line": 9, "message": "phone: +12125550142 is already on line 2."},
        {"line": 10, "message": "email: ann@example.com is already on line 2."},
        {
            "line": 11,
            "message": "email: taken@example.com belongs to another subscriber than phone +13125550101 (not merged).",
        },
    ]
    assert set(Subscriber.objects.values_list("phone", flat=True)) == {
        "+12125550142",
        "+17185550100",
        "+13125550101",
        "",
    }


def test_json_rows_are_numbered_from_one(api, run_jobs):
    rows = [
        {"email": "a@example.com"},
        "not an object",
        {"email": "b@example.com", "text": "sometimes"},
        {"first": 3.5},
    ]
    job = job_of(api, run_jobs(api.post, IMPORTS, {"subscribers": rows}))
    assert job["errors"] == [
        {"line": 2, "message": "Must be a JSON object."},
        {"line": 3, "message": "text: Must be a boolean: true/false or 0/1."},
        {"line": 4, "message": "first: Must be a string."},
    ]
    assert (job["total"], job["created"], job["skipped"]) == (4, 1, 3)


def test_too_long_value_is_a_row_error(api, run_jobs):
    job = job_of(api, run_jobs(upload, api, f"email,city\na@example.com,{'x' * 101}\n"))
    assert job["errors"] == [{"line": 2, "message": "city: At most 100 characters."}]
    assert job["created"] == 0


def test_tabs_newlines_and_backslashes_are_stored_as_given(api, run_jobs):
    csv = 'email,address,city\na@example.com,"12 Elm St\nApt 4\\B","Tab\there\r\nthere"\n'
    job = job_of(api, run_jobs(upload, api, csv))
    assert (job["created"], job["errors"]) == (1, [])
    a = subscriber(email="a@example.com")
    assert (a.address, a.city) == ("12 Elm St\nApt 4\\B", "Tab\there\r\nthere")


def test_nul_characters_are_a_row_error(api, run_jobs):
    rows = [{"email": "a@example.com", "first": "A\u0000B"}, {"email": "b@example.com", "city": 7}]
    job = job_of(api, run_jobs(api.post, IMPORTS, {"subscribers": rows}))
    assert job["errors"] == [{"line": 1, "message": "first: Must not contain NUL characters."}]
    assert subscriber(email="b@example.com").city == "7"


def test_csv_without_phone_or_email_column_fails_the_job(api, run_jobs):
    job = job_of(api, run_jobs(upload, api, "name,city\nAnn,Boston\n"))
    assert job["status"] == "failed"
    assert job["failure"].startswith("The header row (line 1) has no phone or email column")
    assert job["finishedAt"] is not None


# --- chunks, failures, redelivery -----------------------------------------------------------


def test_counters_advance_chunk_by_chunk_and_a_broken_file_keeps_earlier_chunks(api, settings, run_jobs):
    settings.IMPORT_CHUNK_ROWS = 2
    good = "".join(f"{i}@example.com\n" for i in range(5)).encode()
    payload = b"email\n" + good + b"caf\xe9@example.com\n" + b"late@example.com\n"  # line 7: Latin-1, not UTF-8
    job = job_of(api, run_jobs(upload, api, payload))
    assert job["status"] == "failed"
    assert job["failure"] == "Line 7 is not UTF-8 text: the file must be encoded in UTF-8."
    # Chunks of 2: rows 1-4 were committed with their counters; row 5 was in the chunk being read.
    assert (job["total"], job["created"], job["skipped"]) == (4, 4, 0)
    assert Subscriber.objects.count() == 4
    assert job["finishedAt"] is not None
    assert ImportJob.objects.get(pk=job["id"]).payload is None


def test_broken_json_keeps_earlier_chunks(api, settings, run_jobs):
    settings.IMPORT_CHUNK_ROWS = 1
    payload = b'[{"email": "a@example.com"}, {"email": "b@example.com"}, {"email": ]'
    job = job_of(api, run_jobs(upload, api, payload, name="list.json", content_type="application/json"))
    assert job["status"] == "failed"
    assert job["failure"].startswith("Invalid JSON at line 1, column ")
    assert (job["total"], job["created"]) == (2, 2)


def test_redelivered_task_is_a_no_op(api, http_server, private_urls, run_jobs):
    http_server.routes["/done"] = (204, {}, b"")
    response = run_jobs(upload, api, "email\na@example.com\n", notifyUrl=http_server.url("/done"))
    before = job_of(api, response)
    Subscriber.objects.update(first="Changed since")

    run_import(response.json()["id"])  # the broker delivers it again

    assert job_of(api, response) == before
    assert subscriber(email="a@example.com").first == "Changed since"
    assert len(http_server.requests) == 1  # notified once


def test_a_job_left_running_by_a_dead_worker_resumes_after_its_committed_rows(api, org, settings, run_jobs):
    settings.IMPORT_CHUNK_ROWS = 2
    csv = "email,first\na@example.com,A\nb@example.com,B\nc@example.com,C\nb@example.com,dup\n"
    response = upload(api, csv)  # queued; its task is not run here
    # As a worker leaves it when killed after its first chunk committed:
    Subscriber.objects.create(organization=org, email="a@example.com", first="A")
    Subscriber.objects.create(organization=org, email="b@example.com", first="B")
    ImportJob.objects.filter(pk=response.json()["id"]).update(status="running", total=2, created=2)

    run_import(response.json()["id"])

    job = job_of(api, response)
    assert (job["status"], job["total"], job["created"], job["updated"], job["skipped"]) == ("done", 4, 3, 0, 1)
    assert job["errors"] == [{"line": 5, "message": "email: b@example.com is already on line 3."}]


def test_a_later_chunk_updates_what_an_earlier_one_created_only_through_the_file_rules(api, settings, run_jobs):
    settings.IMPORT_CHUNK_ROWS = 1
    rows = [{"phone": "2125550142", "email": "a@example.com"}, {"phone": "2125550143", "email": "b@example.com"}]
    job = job_of(api, run_jobs(api.post, IMPORTS, {"subscribers": rows * 2}))
    assert (job["total"], job["created"], job["updated"], job["skipped"]) == (4, 2, 0, 2)


# --- notifyUrl ---------------------------------------------------------------------------


def test_notify_url_receives_the_job_object(api, http_server, private_urls, run_jobs):
    response = run_jobs(upload, api, "email\na@example.com\nbad\n", notifyUrl=http_server.url("/hooks/import"))
    job = job_of(api, response)
    [(method, path, headers, body)] = http_server.requests
    assert (method, path, headers["Content-Type"]) == ("POST", "/hooks/import", "application/json")
    assert json.loads(body) == job
    assert job["status"] == "done" and job["skipped"] == 1


def test_notify_url_is_called_when_the_job_fails(api, http_server, private_urls, run_jobs):
    response = run_jobs(upload, api, "first\nAnn\n", notifyUrl=http_server.url("/hook"))
    [(_, _, _, body)] = http_server.requests
    assert json.loads(body)["status"] == "failed"
    assert job_of(api, response)["status"] == "failed"


def test_a_failing_notify_url_never_fails_the_job(api, http_server, private_urls, run_jobs):
    http_server.routes["/broken"] = (500, {}, b"")
    response = run_jobs(upload, api, "email\na@example.com\n", notifyUrl=http_server.url("/broken"))
    assert job_of(api, response)["status"] == "done"
    closed = http_server.url("/x").replace(str(http_server.server_address[1]), "9")  # nothing listens on port 9
    response = run_jobs(upload, api, "email\nb@example.com\n", notifyUrl=closed)
    assert job_of(api, response)["status"] == "done"


# --- the request ---------------------------------------------------------------------------


def test_another_organizations_job_is_404(api, other_api, run_jobs):
    response = upload(api, "email\na@example.com\n")  # queued; its task is not run here
    assert run_jobs(other_api.get, f"{IMPORTS}/{response.json()['id']}").status_code == 404
    assert run_jobs(api.get, f"{IMPORTS}/999999").status_code == 404
    assert_nothing_written(jobs=1)
    assert ImportJob.objects.get().status == ImportJob.Status.QUEUED


def test_queued_job_shows_zero_counters(api):
    job = job_of(api, upload(api, "email\na@example.com\n"))
    assert job == {
        "id": job["id"],
        "status": "queued",
        "total": 0,
        "created": 0,
        "updated": 0,
        "skipped": 0,
        "errors": [],
        "createdAt": job["createdAt"],
        "finishedAt": None,
        "failure": None,
    }


def test_oversized_upload_is_413(api, settings, run_jobs):
    settings.IMPORT_MAX_BYTES = 50
    response = run_jobs(upload, api, "email\n" + "someone@example.com\n" * 5)
    assert response.status_code == 413
    assert response.json() == {"message": "The file is larger than the 50 bytes allowed."}
    response = run_jobs(api.post, IMPORTS, {"subscribers": [{"email": "someone@example.com"}] * 5})
    assert response.status_code == 413
    assert_nothing_written()


def test_a_json_body_may_exceed_the_usual_request_limit_up_to_the_import_limit(api, settings, run_jobs):
    rows = [
        {"phone": f"+1202555{i:04d}", "first": "x" * 90, "last": "y" * 90, "address": "z" * 90} for i in range(9000)
    ]
    assert len(json.dumps({"subscribers": rows})) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = run_jobs(api.post, IMPORTS, {"subscribers": rows})
    assert response.status_code == 202, response.json()
    assert api.get(f"{IMPORTS}/{response.json()['id']}").json()["created"] == 9000


def test_body_far_over_the_limit_is_refused_before_it_is_read(api, settings, run_jobs):
    settings.IMPORT_MAX_BYTES = 10
    response = run_jobs(upload, api, "email\n" + "someone@example.com\n" * 5000)
    assert response.status_code == 413
    assert response.json() == {"message": "An import is at most 10 bytes."}
    assert_nothing_written()


def test_text_plain_is_415(api, run_jobs):
    response = run_jobs(api.post, IMPORTS, "phone\n2125550142\n", format=None, content_type="text/plain")
    assert response.status_code == 415
    assert "message" in response.json()
    assert_nothing_written()


def test_unknown_fields_are_400_naming_them(api, run_jobs):
    response = run_jobs(api.post, IMPORTS, {"subscribers": [{"email": "a@example.com"}], "listIds": [1]})
    assert response.status_code == 400
    assert response.json()["message"] == "listIds: Unknown field."
    response = run_jobs(upload, api, "email\na@example.com\n", colour="blue")
    assert response.status_code == 400
    assert response.json()["message"] == "colour: Unknown field."
    assert_nothing_written()


@pytest.mark.parametrize(
    "body",
    [{}, {"updateExisting": 1}, {"url": "https://example.com/a.csv", "subscribers": [{"email": "a@example.com"}]}],
)
def test_exactly_one_source(api, body, run_jobs):
    response = run_jobs(api.post, IMPORTS, body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Give exactly one source, url or subscribers")
    assert_nothing_written()


def test_file_and_url_together_is_400(api, run_jobs):
    response = run_jobs(upload, api, "email\na@example.com\n", url="https://example.com/a.csv")
    assert response.status_code == 400
    assert response.json()["message"] == "Give exactly one source, file or url (got file and url)."
    assert_nothing_written()


def test_subscribers_must_be_an_array(api, run_jobs):
    response = run_jobs(api.post, IMPORTS, {"subscribers": {"email": "a@example.com"}})
    assert response.status_code == 400
    assert response.json()["message"] == "subscribers: Must be an array of subscriber objects."
    assert_nothing_written()


def test_a_read_only_role_cannot_import(org, client_for, run_jobs):
    from connext import roles
    from tests.factories import UserFactory

    viewer = client_for(UserFactory(organization=org, email="viewer@acme.test", role=roles.VIEWER))
    assert run_jobs(upload, viewer, "email\na@example.com\n").status_code == 403
    assert_nothing_written()


# --- addresses.py's shortcuts (imports are benchmarked) agree with phonenumbers and Django ------------


def _written(nsn: str, rng: random.Random) -> str:
    a, b, c = nsn[:3], nsn[3:6], nsn[6:]
    forms = [
        nsn, f"+1{nsn}", f"1{nsn}", f"+1 {a} {b} {c}", f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}",
        f"1-{a}-{b}-{c}", f"+1 ({a}) {b}-{c}", f"  {nsn} ", f"1 ({a}) {b} {c}", f"+1-{a}-{b}-{c}", f"({a}){b}{c}",
        f"({a} {b}-{c}", f"+{nsn}", f"-{nsn}", f"0{nsn}", f"+1 {a}  {b} {c}",
    ]  # fmt: skip
    return rng.choice(forms)


def _phonenumbers_answer(raw: str, region: str) -> str:
    """What phonenumbers alone says of `raw`, in normalize_phone's words."""
    text = raw.strip()
    if not text:
        return "invalid: Phone number is empty."
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return f"invalid: {raw!r} is not a phone number."
    if not phonenumbers.is_valid_number(number):
        return f"invalid: {raw!r} is not a valid phone number."
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize("region", ["US", "CA", "PR", "AG", "JM", "DO", "GU", "GB", "FR"])
def test_normalize_phone_agrees_with_phonenumbers(region):
    rng = random.Random(f"phones-{region}")
    numbers = [f"{area}{rng.randint(0, 9_999_999):07d}" for area in range(200, 1000)]
    numbers += [f"{rng.randint(2, 9)}{rng.randint(0, 999_999_999):09d}" for _ in range(1500)]
    numbers += ["2125550142", "8005550100", "9005550100", "2685621234", "8095550142", "6715550142"]
    for written in [*(_written(nsn, rng) for nsn in numbers), "", "   ", "555", "+44 7911 123456", "not a phone"]:
        try:
            got = normalize_phone(written, region)
        except InvalidAddress as exc:
            got = f"invalid: {exc}"
        assert got == _phonenumbers_answer(written, region), (written, region)


def test_normalize_email_agrees_with_django_validate_email():
    samples = [
        "a@example.com", " Mixed.Case@Example.COM ", "a+tag@sub.example.co.uk", "a@localhost", "a@[127.0.0.1]",
        "a@[::1]", "a@[300.1.1.1]", '"quoted name"@example.com', "a..b@example.com", ".a@example.com",
        "a@example", "a@-example.com", "a@example-.com", "a@exa_mple.com", "a@example.c", "a@example.123",
        "a@xn--bcher-kva.ch", "a@bücher.ch", "ä@example.com", "a@@example.com", "@example.com", "a@", "",
        "a b@example.com", "a@example.com.", f"{'a' * 64}@example.com", f"{'a' * 310}@example.com",
        "a@" + ".".join(["abcdefghij"] * 30) + ".com", "user@example.museum", "o'brien@example.ie",
    ]  # fmt: skip
    rng = random.Random("emails")
    alphabet = "abcXYZ019.-_+@'\" ü"
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))) for _ in range(3000)]
    for raw in samples:
        text = raw.strip().lower()
        try:
            validate_email(text)
            expected = text
        except ValidationError:
            expected = f"invalid: {raw!r} is not a valid email address."
        try:
            got = normalize_email(raw)
        except InvalidAddress as exc:
            got = f"invalid: {exc}"
        assert got == expected, raw


def test_the_import_package_never_imports_the_views():
    """Imports go one way: views -> subscribers.imports, never back."""
    package = Path(imports.__file__).parent
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text())
        names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [name for name in names if name.rsplit(".", 1)[-1].endswith("views")], module.name


# --- a real worker ---------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.skipif(SQLITE, reason="a worker process can't share the in-memory SQLite test database")
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_an_import(api, org, celery_worker):
    group = GroupFactory(organization=org, number=1)
    csv = "phone,email\n" + "".join(f"212555{i:04d},p{i}@example.com\n" for i in range(100, 160)) + "555,\n"
    response = upload(api, csv, groups="1")
    assert response.status_code == 202

    deadline = time.monotonic() + 60
    while (job := job_of(api, response))["status"] in ("queued", "running"):
        assert celery_worker.process.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, f"the import did not finish: {job}"
        time.sleep(0.2)

    assert (job["status"], job["created"], job["skipped"]) == ("done", 60, 1)
    assert job["errors"] == [{"line": 62, "message": "phone: '555' is not a valid phone number."}]
    assert group.subscribers.count() == 60


def test_a_job_whose_task_message_was_lost_is_enqueued_again_by_the_sweeper(api, monkeypatch):
    from subscribers.tasks import requeue_stalled_imports

    response = upload(api, "phone\n2025550143\n")  # on_commit never fires here: as if the message were lost
    assert job_of(api, response)["status"] == "queued"
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    assert requeue_stalled_imports() == 0  # a fresh job is left alone
    ImportJob.objects.filter(pk=response.json()["id"]).update(created_at=timezone.now() - timedelta(minutes=6))
    assert requeue_stalled_imports() == 1
    job = job_of(api, response)
    assert (job["status"], job["created"]) == ("done", 1)
    assert requeue_stalled_imports() == 0
