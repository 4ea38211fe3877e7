"""Admin panel, messages and deliveries: read-only, scoped to the organization, filterable by status."""

import pytest

from blasts.models import ConsoleSend
from logs.models import Delivery, Message
from tests.factories import ConsoleSendFactory, DeliveryFactory, MessageFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


@pytest.fixture
def sends(org, other_org):
    ours = MessageFactory(organization=org, message="Acme snow day", recipients=2)
    theirs = MessageFactory(organization=other_org, message="Globex news", recipients=1)
    DeliveryFactory(message=ours, recipient="+12025550101", status="failed", error_code="30003")
    DeliveryFactory(message=ours, recipient="+12025550102", status="delivered")
    DeliveryFactory(message=theirs, recipient="+12025550199", status="failed")
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
    add = browser.get("/admin/logs/message/add/")  # adding a blast is composing one
    assert add.status_code == 302 and add["Location"] == "/admin/compose/"
    with nothing_written(Message, Delivery):
        assert browser.post(f"/admin/logs/message/{ours.pk}/delete/", {"post": "yes"}).status_code == 403
        assert browser.post(f"/admin/logs/message/{ours.pk}/change/", {"message": "Edited"}).status_code == 403


def test_the_console_outbox_shows_the_own_organizations_sends_read_only(browser, sends):
    ours, theirs = sends
    mine = ConsoleSendFactory(delivery=ours.deliveries.first(), body="Snow!")
    ConsoleSendFactory(delivery=theirs.deliveries.first(), body="Globex!")
    page = browser.get("/admin/blasts/consolesend/").content.decode()
    assert "Snow!" in page and "Globex!" not in page
    assert browser.get(f"/admin/blasts/consolesend/{mine.pk}/change/").status_code == 200
    assert browser.get("/admin/blasts/consolesend/add/").status_code == 403
    with nothing_written(ConsoleSend):
        assert browser.post("/admin/blasts/consolesend/add/", {"to": "+12025550101", "body": "x"}).status_code == 403
        assert browser.post(f"/admin/blasts/consolesend/{mine.pk}/delete/", {"post": "yes"}).status_code == 403
