"""The admin in a real browser (Playwright driving the system Chromium), on PostgreSQL with a
real worker: an organization's admin imports subscribers, composes a blast and watches it
reach 100 %, and finds the day's sends on the dashboard; another organization's admin sees
none of it. Each page is saved as a screenshot in var/test-artifacts/admin/ (CI keeps them).

Skipped only when Chromium is missing (CI installs it: .ci/run) or on SQLite (the worker must
share the database)."""

import json
import os
import re
import shutil
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from connext import roles
from logs.models import Delivery, Message
from subscribers.models import ImportJob, Subscriber
from tests.conftest import SQLITE
from tests.factories import GroupFactory, OrganizationFactory, UserFactory

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser") or ""

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="a worker process needs a database it can share: PostgreSQL"),
    pytest.mark.skipif(not CHROMIUM, reason="no Chromium (apt-get install -y chromium)"),
]

PASSWORD = "Browser-test-pw-1"
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "admin"
PEOPLE = 24
WAIT_MS = 120_000  # a failure bound for a loaded CI machine, not a figure


@pytest.fixture
def browser_page(monkeypatch):
    """new_page() -> a Playwright page in a fresh context (its own cookies) of one Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # synchronous all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        contexts = []

        def new_page():
            context = chromium.new_context(
                viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
            )
            context.set_default_timeout(30_000)
            contexts.append(context)
            return context.new_page()

        try:
            yield new_page
        finally:
            for context in contexts:
                context.close()
            chromium.close()
            # While Playwright's event loop runs, Django keeps this test's database connection per
            # context, not per thread: close it here, or the test database is still in use when dropped.
            connections.close_all()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def people_csv() -> bytes:
    lines = ["first,last,phone,email,text"]
    lines += [f"Kid{n},Parent,(202) 555-{1000 + n},kid{n}@example.com,1" for n in range(PEOPLE)]
    lines.append("Bad,Row,12,,1")  # line PEOPLE + 2: refused, reported
    return ("\n".join(lines) + "\n").encode()


def test_an_admin_imports_composes_and_watches_a_blast_in_a_browser(live_server, celery_worker, browser_page):
    acme = OrganizationFactory(name="Acme")
    ops = UserFactory(organization=acme, email="ops@acme.test", password=PASSWORD, role=roles.ORG_ADMIN)
    GroupFactory(organization=acme, number=1, name="Parents")
    globex = OrganizationFactory(name="Globex")
    UserFactory(organization=globex, email="ops@globex.test", password=PASSWORD, role=roles.ORG_ADMIN)
    base = live_server.url

    page = browser_page()
    log_in(page, base, "ops@acme.test")
    assert page.title() == "Dashboard | Connext"
    assert page.locator("#site-name").inner_text() == "Connext"

    # Import: upload a CSV into group 1, then its job page fills up to 100 % by itself.
    page.goto(f"{base}/admin/subscribers/subscriber/")
    page.click(".object-tools a:text-is('Import')")
    page.set_input_files("input[name=file]", files=[{"name": "parents.csv", "mimeType": "text/csv",
                                                     "buffer": people_csv()}])  # fmt: skip
    page.check("input[name=groups][value='1']")
    shot(page, "import-form")
    page.click("input[type=submit][value=Import]")
    page.locator(".cx-job-status[data-status=done]").wait_for(timeout=WAIT_MS)
    assert page.locator(".cx-job [role=progressbar]").get_attribute("aria-valuenow") == "100"
    refused = page.locator(".cx-errors tbody tr").all_inner_texts()
    assert len(refused) == 1 and refused[0].startswith(f"{PEOPLE + 2}\tphone")
    shot(page, "import-job")
    assert Subscriber.objects.filter(organization=acme, groups__number=1).count() == PEOPLE
    assert ImportJob.objects.get(organization=acme).created == PEOPLE

    # Compose: the estimate first, then the send.
    page.goto(f"{base}/admin/compose/")
    page.check("input[name=types][value=sms]")
    page.check("input[name=groups][value='1']")
    page.fill("textarea[name=message]", "Hi {first|there}, school is closed today.")
    page.click("button[value=estimate]")
    assert page.locator("[data-total-recipients]").inner_text() == str(PEOPLE)
    assert "GSM-7" in page.locator("#estimate").inner_text()
    shot(page, "compose-estimate")
    page.click(f"text=Send to {PEOPLE} recipients")

    # The blast's page refreshes itself until every delivery is delivered.
    page.wait_for_url(re.compile(r".*/admin/logs/message/\d+/change/$"))
    message = Message.objects.get(organization=acme)
    page.locator(".cx-watch-total [role=progressbar][aria-valuenow='100']").wait_for(timeout=WAIT_MS)
    assert page.locator(".cx-count[data-status=delivered]").inner_text() == str(PEOPLE)
    assert page.locator(".cx-cancel").count() == 0  # nothing left to cancel
    shot(page, "blast-progress")
    assert Delivery.objects.filter(message=message, status="delivered").count() == PEOPLE

    # One click to the delivered deliveries.
    page.click(".cx-status-table a:text-is('delivered')")
    page.wait_for_url(re.compile(r".*/admin/logs/delivery/\?.*status__exact=delivered"))
    page.locator("#result_list tbody tr").nth(PEOPLE - 1).wait_for(timeout=WAIT_MS)  # the list, loaded
    assert page.locator("#result_list tbody tr").count() == PEOPLE
    shot(page, "deliveries")

    # The list of blasts, and the dashboard: today's bar holds the blast's sends.
    page.goto(f"{base}/admin/logs/message/")
    assert "100 %" in page.locator("#result_list").inner_text()
    shot(page, "blasts")
    page.goto(f"{base}/admin/")
    today = timezone.localdate().isoformat()
    assert page.locator(f"#messages-per-day g[data-day='{today}']").get_attribute("data-total") == str(PEOPLE)
    assert page.locator("#channel-rates tr[data-channel=sms]").inner_text().split("\t")[:3] == [
        "sms",
        str(PEOPLE),
        "100 %",
    ]
    shot(page, "dashboard")

    # An API key made in the admin is shown once, with a button that copies it.
    page.goto(f"{base}/admin/apikeys/apikey/add/")
    page.fill("input[name=name]", "CRM")
    page.select_option("select[name=user]", value=str(ops.pk))
    page.click("input[name=_save]")
    key = page.locator("#new-api-key").inner_text()
    page.click("button[data-copy='#new-api-key']")
    page.locator("button[data-copy='#new-api-key']:text-is('Copied')").wait_for()  # the clipboard answers later
    assert page.evaluate("navigator.clipboard.readText()") == key
    shot(page, "api-key-created")
    request = urllib.request.Request(f"{base}/api/v1/groups", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request) as response:
        assert [group["name"] for group in json.load(response)] == ["Parents"]
    page.reload()
    assert page.locator("#new-api-key").count() == 0  # shown once

    # Another organization's admin sees none of it.
    other = browser_page()
    log_in(other, base, "ops@globex.test")
    assert other.locator(f"#messages-per-day g[data-day='{today}']").get_attribute("data-total") == "0"
    assert "No blasts yet." in other.locator("#last-blasts").inner_text()
    shot(other, "other-organization-dashboard")
    for path in ["/admin/logs/message/", "/admin/logs/delivery/", "/admin/subscribers/subscriber/",
                 "/admin/subscribers/importjob/"]:  # fmt: skip
        other.goto(f"{base}{path}")
        assert other.locator("#result_list").count() == 0, path  # an empty list has no table
    other.goto(f"{base}/admin/logs/message/{message.pk}/change/")
    assert "Kid" not in other.content() and "school is closed" not in other.content()
