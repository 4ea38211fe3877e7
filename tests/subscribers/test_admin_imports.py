"""Imports and exports from the admin: the API's checks and job, a job page with progress and
the refused lines, and an export of what the list shows."""

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from subscribers.models import ImportJob, Subscriber
from tests.factories import GroupFactory, ImportJobFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

IMPORT = "/admin/subscribers/subscriber/import/"
EXPORT = "/admin/subscribers/subscriber/export/"

CSV = """first,last,phone,email
Ada,Lovelace,(202) 555-0101,ada@example.com
Bob,Smith,not a phone,
Cy,Young,2025550103,cy@example.com
"""


def csv_file(content: str = CSV, name: str = "people.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_the_list_offers_import_and_export(browser):
    page = browser.get("/admin/subscribers/subscriber/?enabled__exact=1").content.decode()
    assert f'<a href="{IMPORT}" class="addlink">Import</a>' in page
    assert f'<a href="{EXPORT}?enabled__exact=1">Export CSV (these filters)</a>' in page


def test_an_upload_runs_as_the_apis_import_and_its_page_shows_progress_and_errors(browser, org, run_jobs):
    GroupFactory(organization=org, number=4, name="Parents")
    response = run_jobs(browser.post, IMPORT, {"file": csv_file(), "groups": ["4"], "update_existing": "on"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/subscribers/importjob/{job.pk}/change/"
    job.refresh_from_db()
    assert (job.status, job.total, job.created, job.skipped, job.group_numbers) == ("done", 3, 2, 1, [4])
    assert set(Subscriber.objects.filter(groups__number=4).values_list("first", flat=True)) == {"Ada", "Cy"}

    page = browser.get(response["Location"]).content.decode()
    assert 'aria-valuenow="100"' in page and "100 %" in page
    assert re.search(r"<tr><td>3</td><td>phone: [^<]+</td></tr>", page)  # the bad row, by its line
    assert 'http-equiv="refresh"' not in page  # done: no more refreshing


def test_a_running_job_refreshes_and_shows_its_rows_against_the_files(browser, org):
    job = ImportJobFactory(organization=org, status="running", total=1)
    page = browser.get(f"/admin/subscribers/importjob/{job.pk}/change/").content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page and "1 rows read" in page


def test_the_import_form_says_what_the_api_says(browser, api, org):
    api_error = api.post("/api/v1/subscribers/imports", {"url": "http://127.0.0.1/people.csv"}).json()
    page = browser.post(IMPORT, {"url": "http://127.0.0.1/people.csv"}).content.decode()
    assert escape(api_error["errors"]["url"][0]) in page
    page = browser.post(IMPORT, {}).content.decode()
    assert "Give exactly one source, file or url (none was given)." in page
    assert not ImportJob.objects.exists()


def test_export_with_the_lists_filters(browser, org, other_org):
    parents = GroupFactory(organization=org, number=1)
    SubscriberFactory(organization=org, first="Ada", phone="+12025550101", groups=[parents])
    SubscriberFactory(organization=org, first="Bob", phone="+12025550102")
    SubscriberFactory(organization=other_org, first="Eve", phone="+12025550101")
    response = browser.get(f"{EXPORT}?group={parents.pk}")
    assert response["Content-Disposition"] == 'attachment; filename="subscribers.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["first"], r["groups"]) for r in rows] == [("Ada", "1")]
    everyone = list(csv.DictReader(io.StringIO(b"".join(browser.get(EXPORT).streaming_content).decode())))
    assert sorted(r["first"] for r in everyone) == ["Ada", "Bob"]


def test_adding_an_import_job_is_the_import_form(browser):
    response = browser.get("/admin/subscribers/importjob/add/")
    assert response.status_code == 302 and response["Location"] == IMPORT
