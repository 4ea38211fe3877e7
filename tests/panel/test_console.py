"""The admin as an organization's admin sees it: Connext's name, the apps in the operator's
order, the dashboard as home, compose (estimate, test, send) and a blast's live progress."""

import html
import re

import pytest
from django.utils import timezone

from logs.models import Delivery, Message
from tests.factories import (
    BlocklistEntryFactory,
    DeliveryFactory,
    DeviceFactory,
    GroupFactory,
    MessageFactory,
    SubscriberFactory,
    TemplateFactory,
)

pytestmark = pytest.mark.django_db

SECTIONS = ["Subscribers", "Groups", "Templates", "Blasts &amp; logs", "Schedules", "Devices", "Webhooks", "Settings"]


def test_the_site_is_connext_with_the_apps_in_the_operators_order(browser):
    page = browser.get("/admin/").content.decode()
    assert "<title>Dashboard | Connext</title>" in page
    assert '<div id="site-name"><a href="/admin/">Connext</a></div>' in page
    assert "Django administration" not in page and "Django site admin" not in page
    captions = re.findall(r'<caption>\s*<a href="[^"]*" class="section"[^>]*>([^<]+)</a>', page)
    assert captions == SECTIONS
    # Human names for the models, not the table's.
    for name in ("Imports", "Blocklist", "Blasts", "Deliveries", "Console outbox", "API keys", "Users"):
        assert f">{name}</a>" in page


def test_the_login_page_says_connext(client):
    page = client.get("/admin/login/").content.decode()
    assert "Connext" in page and "Django administration" not in page


def test_every_asset_is_served_by_the_project(browser):
    page = browser.get("/admin/").content.decode()
    for url in re.findall(r'(?:src|href)="([^"]+\.(?:css|js))"', page):
        assert url.startswith("/static/"), url
    assert "panel/admin.css" in page and "panel/admin.js" in page


@pytest.fixture
def sent_today(org, admin_user):
    """A blast of today: 3 delivered, 1 failed, 1 queued; an opt-out; an online and an offline phone."""
    message = MessageFactory(organization=org, user=admin_user, types=["sms", "email"], message="Snow day",
                             recipients=5)  # fmt: skip
    for status in ["delivered", "delivered", "delivered", "failed", "queued"]:
        DeliveryFactory(message=message, status=status, error_code="30003" if status == "failed" else "",
                        error_message="Unreachable handset" if status == "failed" else "")  # fmt: skip
    DeliveryFactory(message=message, channel="email", status="delivered")
    BlocklistEntryFactory(organization=org, reason="stop")
    DeviceFactory(organization=org)
    DeviceFactory(organization=org, last_seen_at=timezone.now() - timezone.timedelta(hours=1))
    return message


def test_the_dashboard_shows_the_days_sends_rates_opt_outs_blasts_and_devices(browser, org, sent_today):
    sms_only = MessageFactory(organization=org, types=["sms"], recipients=2)  # its rates from its running totals
    DeliveryFactory.create_batch(2, message=sms_only, status="delivered")
    page = browser.get("/admin/").content.decode()
    today = timezone.localdate().isoformat()
    # The chart: today's bar holds the two blasts' eight deliveries, by status.
    assert re.search(rf'<g class="cx-day" data-day="{today}" data-total="8">', page)
    assert f"<title>{today} delivered: 6</title>" in page
    assert f"<title>{today} failed: 1</title>" in page
    assert page.count('class="cx-day"') == 60  # 30 days of messages, 30 of opt-outs
    assert f"<title>{today} opt-outs: 1</title>" in page
    # Rates per channel: sms 5 of 6 reported delivered, 1 failed, 1 pending; email 1 of 1.
    sms = re.search(r'<tr data-channel="sms">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r"<td>([^<]*)</td>", sms) == ["7", "83 %", "17 %", "1"]
    email = re.search(r'<tr data-channel="email">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r"<td>([^<]*)</td>", email) == ["1", "100 %", "0 %", "0"]
    assert re.search(r'data-figure="devices"><span class="cx-tile-figure">1 / 2</span>', page)
    # The last blasts, with their progress (5 of 6 finished).
    assert f'<a href="/admin/logs/message/{sent_today.pk}/change/">{sent_today.pk}</a>' in page
    assert 'aria-valuenow="83"' in page


def test_a_superuser_picks_the_organization_whose_dashboard_to_see(superuser_browser, org, sent_today):
    page = superuser_browser.get("/admin/").content.decode()
    assert "cx-chart" not in page and "Blasts &amp; logs" in page
    assert f'<option value="{org.pk}">Acme</option>' in page
    page = superuser_browser.get(f"/admin/?organization={org.pk}").content.decode()
    assert "<h1>Acme</h1>" in page and 'data-total="6"' in page
    assert "Compose a blast" not in page  # compose sends as the admin's own organization


@pytest.fixture
def people(org):
    parents = GroupFactory(organization=org, number=1, name="Parents")
    staff = GroupFactory(organization=org, number=2, name="Staff")
    for n in range(3):
        SubscriberFactory(organization=org, phone=f"+1202555010{n}", email=f"p{n}@example.com", text=True,
                          groups=[parents])  # fmt: skip
    SubscriberFactory(organization=org, phone="+12025550109", text=True, groups=[parents, staff])
    return parents, staff


def compose_form(**fields):
    return {"types": ["sms"], "groups": ["1"], "message": "Hi {first|there}", "subject": "", "media": "", **fields}


def test_compose_estimates_before_it_sends(browser, people):
    page = browser.post("/admin/compose/", {**compose_form(dnc=["2"]), "action": "send"}).content.decode()
    assert not Message.objects.exists()  # nothing estimated yet: the estimate comes first
    assert re.search(r'<tr data-type="sms"><th scope="row">sms</th><td>3</td><td>0.0237</td></tr>', page)
    assert "GSM-7, 1 segment per text" in page
    estimated = re.search(r'name="estimated" value="([0-9a-f]+)"', page).group(1)
    assert "Send to 3 recipients" in page

    response = browser.post("/admin/compose/", {**compose_form(dnc=["2"]), "estimated": estimated, "action": "send"})
    message = Message.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/logs/message/{message.pk}/change/"
    assert (message.types, message.group_numbers, message.dnc_numbers, message.recipients) == (["sms"], [1], [2], 3)


def test_a_text_with_media_is_estimated_as_mms_and_sent_with_it(browser, people):
    fields = compose_form(media="https://cdn.example/closed.jpg image/jpeg")
    page = browser.post("/admin/compose/", {**fields, "action": "estimate"}).content.decode()
    assert re.search(r'<tr data-type="sms"><th scope="row">sms</th><td>4</td><td>0.0800</td></tr>', page)
    estimated = re.search(r'name="estimated" value="([0-9a-f]+)"', page).group(1)
    browser.post("/admin/compose/", {**fields, "estimated": estimated, "action": "send"})
    assert Message.objects.get().media == [{"url": "https://cdn.example/closed.jpg", "type": "image/jpeg"}]


def test_a_changed_form_is_estimated_again_not_sent(browser, people):
    page = browser.post("/admin/compose/", {**compose_form(), "action": "estimate"}).content.decode()
    estimated = re.search(r'name="estimated" value="([0-9a-f]+)"', page).group(1)
    page = browser.post("/admin/compose/", {**compose_form(message="Changed"), "estimated": estimated,
                                            "action": "send"}).content.decode()  # fmt: skip
    assert not Message.objects.exists() and "Send to 4 recipients" in page


def test_compose_says_what_the_api_says(browser, api, people):
    body = {"types": ["email", "mms"], "groups": [1], "message": "Hi {nickname}"}
    api_errors = api.post("/api/v1/blasts", body).json()["errors"]
    page = browser.post("/admin/compose/", {**compose_form(types=["email", "mms"], message="Hi {nickname}"),
                                            "action": "estimate"}).content.decode()  # fmt: skip
    for field in ("subject", "media"):
        for problem in api_errors[field]:
            assert re.search(
                rf'field-{field} errors">\s*<ul class="errorlist"[^>]*><li>{re.escape(problem)}</li>', page
            )
    assert not Message.objects.exists()


def test_no_type_nor_audience_is_refused_as_the_api_refuses_it(browser, api, people):
    page = browser.post("/admin/compose/", {"message": "Hi", "action": "estimate"}).content.decode()
    assert re.search(r'field-types errors">\s*<ul class="errorlist"[^>]*><li>This list may not be empty.</li>', page)
    response = api.post("/api/v1/blasts", {"types": ["sms"], "message": "Hi"})
    assert response.status_code == 400 and "groups" in response.json()["errors"]
    page = browser.post("/admin/compose/", {"types": ["sms"], "message": "Hi", "action": "estimate"}).content.decode()
    assert html.escape(response.json()["errors"]["groups"][0]) in page
    assert not Message.objects.exists()


def test_a_test_goes_to_the_admin_only(browser, admin_user, people):
    admin_user.phone = "+12025550177"
    admin_user.save()
    page = browser.post("/admin/compose/", {**compose_form(), "action": "test"}, follow=True).content.decode()
    message = Message.objects.get()
    assert message.test and list(message.deliveries.values_list("recipient", flat=True)) == ["+12025550177"]
    assert f"Test queued to your own phone or email: blast {message.pk}." in page


def test_compose_starts_from_a_template(browser, org, people):
    parents, staff = people
    template = TemplateFactory(organization=org, title="Closure", types=["sms", "email"], message="Closed",
                               subject="School closed", groups=[parents], dnc=[staff])  # fmt: skip
    page = browser.get(f"/admin/compose/?template={template.pk}").content.decode()
    assert re.search(r'name="types" value="email"[^>]*checked', page)
    assert re.search(r'name="groups" value="1"[^>]*checked', page)
    assert re.search(r'name="dnc" value="2"[^>]*checked', page)
    assert 'value="School closed"' in page and ">\nClosed</textarea>" in page


def test_a_viewer_may_not_compose(client, org):
    from connext import roles
    from tests.factories import UserFactory

    viewer = UserFactory(organization=org, role=roles.VIEWER)
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    assert client.get("/admin/compose/").status_code == 403


def test_the_blast_page_shows_progress_errors_and_links_and_refreshes_while_running(browser, sent_today):
    page = browser.get(f"/admin/logs/message/{sent_today.pk}/change/").content.decode()
    assert '<meta http-equiv="refresh" content="3">' in page
    counts = dict(re.findall(r'<td class="cx-count" data-status="(\w+)">(\d+)</td>', page))
    assert counts == {"queued": "1", "sending": "0", "sent": "0", "delivered": "4", "failed": "1", "canceled": "0",
                      "clicked": "0"}  # fmt: skip
    assert f'href="/admin/logs/delivery/?message__id__exact={sent_today.pk}&amp;status__exact=failed"' in page
    assert re.search(r"<td>30003</td><td>Unreachable handset</td><td>1</td>", page)
    assert "Cancel what is left (1)" in page
    assert "sms, email" in page and '["sms", "email"]' not in page


def test_cancel_from_the_blast_page(browser, sent_today):
    response = browser.post(f"/admin/logs/message/{sent_today.pk}/cancel/", follow=True)
    page = response.content.decode()
    assert "Canceled 1 deliveries." in page
    assert sent_today.deliveries.filter(status=Delivery.Status.CANCELED).count() == 1
    assert "Cancel what is left" not in page and 'http-equiv="refresh"' not in page
    again = browser.post(f"/admin/logs/message/{sent_today.pk}/cancel/", follow=True).content.decode()
    assert "Nothing left to cancel" in again


def test_the_blast_list_shows_progress_and_counts(browser, sent_today):
    page = browser.get("/admin/logs/message/").content.decode()
    assert f'aria-label="blast {sent_today.pk} progress"' in page and "83 %" in page
    delivered = f"/admin/logs/delivery/?message__id__exact={sent_today.pk}&amp;status__exact=delivered"
    assert f'<a href="{delivered}">4&nbsp;delivered</a>' in page
    assert '<meta http-equiv="refresh"' in page  # one blast still running
    assert 'href="/admin/compose/" class="addlink">Compose a blast</a>' in page


def test_clicked_deliveries_one_click_away(browser, sent_today):
    clicked = sent_today.deliveries.first()
    Delivery.objects.filter(pk=clicked.pk).update(clicks=2)
    page = browser.get(f"/admin/logs/delivery/?message__id__exact={sent_today.pk}&clicked=1").content.decode()
    assert clicked.recipient in page
    assert sum(d.recipient in page for d in sent_today.deliveries.exclude(pk=clicked.pk)) == 0


def test_a_finished_blast_refreshes_while_its_receipts_may_still_come(browser, org):
    message = MessageFactory(organization=org, recipients=1)
    DeliveryFactory(message=message, status="sent")
    page = browser.get(f"/admin/logs/message/{message.pk}/change/").content.decode()
    assert "all handed to providers: this page refreshes itself" in page and "Cancel what is left" not in page
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timezone.timedelta(hours=1))
    page = browser.get(f"/admin/logs/message/{message.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' not in page and "all handed to providers." in page
