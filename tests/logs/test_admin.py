"""Admin panel, messages and deliveries: read-only, scoped to the organization, filterable by status."""

import pytest
from django.test import Client
from django.utils import timezone

from logs.models import Delivery, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def sends(org, other_org):
    ours = Message.objects.create(organization=org, types=["sms"], message="Acme snow day", recipients=2,
                                  fanned_out_at=timezone.now())  # fmt: skip
    theirs = Message.objects.create(organization=other_org, types=["sms"], message="Globex news", recipients=1,
                                    fanned_out_at=timezone.now())  # fmt: skip
    Delivery.objects.create(message=ours, channel="sms", recipient="+12025550101", status="failed", error_code="30003")
    Delivery.objects.create(message=ours, channel="sms", recipient="+12025550102", status="delivered")
    Delivery.objects.create(message=theirs, channel="sms", recipient="+12025550199", status="failed")
    return ours, theirs


def test_messages_are_listed_for_the_own_organization_only(browser, sends):
    ours, theirs = sends
    page = browser.get("/admin/logs/message/").content.decode()
    assert "Acme snow day" in page and "Globex news" not in page
    assert browser.get(f"/admin/logs/message/{theirs.pk}/change/").status_code == 302  # not found: back to list
    assert browser.get(f"/admin/logs/message/{ours.pk}/change/").status_code == 200


def test_deliveries_filter_by_status_and_message(browser, sends):
    ours, _ = sends
    page = browser.get(f"/admin/logs/delivery/?message__id__exact={ours.pk}&status__exact=failed").content.decode()
    assert "+12025550101" in page and "+12025550102" not in page and "+12025550199" not in page


def test_read_only(browser, sends):
    ours, _ = sends
    assert browser.get("/admin/logs/message/add/").status_code == 403
    response = browser.post(f"/admin/logs/message/{ours.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403 and Message.objects.filter(pk=ours.pk).exists()


def test_the_console_outbox_shows_the_own_organizations_sends_read_only(browser, sends):
    from blasts.models import ConsoleSend

    ours, theirs = sends
    mine = ConsoleSend.objects.create(delivery=ours.deliveries.first(), channel="sms", to="+12025550101", body="Snow!")
    ConsoleSend.objects.create(delivery=theirs.deliveries.first(), channel="sms", to="+12025550199", body="Globex!")
    page = browser.get("/admin/blasts/consolesend/").content.decode()
    assert "Snow!" in page and "Globex!" not in page
    assert browser.get(f"/admin/blasts/consolesend/{mine.pk}/change/").status_code == 200
    assert browser.get("/admin/blasts/consolesend/add/").status_code == 403
