"""Sender identities per organization: set by its org admins (PATCH /organization), used by its
sends (Twilio number or Messaging Service, SendGrid from-address and name), and the number an
inbound text arrives on says whose it is: one tenant never sees another's replies or opt-outs."""

import datetime as dt

import pytest
from django.utils import timezone

from connext import roles
from connext.models import Organization
from logs.models import Delivery, Reply
from subscribers.models import BlocklistEntry
from tests.factories import DeliveryFactory, GroupFactory, OrganizationFactory, SubscriberFactory, UserFactory
from tests.logs.test_twilio_inbound import inbound
from tests.stubs import run_in_thread
from tests.stubs.channels import FROM_EMAIL, FROM_NUMBER, channels_to
from tests.stubs.sendgrid_stub import SendGridStub
from tests.stubs.twilio_stub import TwilioStub
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

ORG = "/api/v1/organization"
SERVICE = "MG" + "a1" * 16
ADA = "+12025550101"


def test_org_admins_set_their_sender_identity_and_help_text(api, org):
    body = api.get(ORG).json()
    assert body["senderPhone"] == "" and body["id"] == org.pk and body["billed"] == 0 and body["parentId"] is None
    response = api.patch(
        ORG,
        {
            "senderPhone": "(202) 555-0199",
            "messagingServiceSid": SERVICE,
            "senderEmail": "news@acme.test",
            "senderName": "Acme News",
            "helpText": "Acme: help",
        },
    )
    assert response.status_code == 200, response.content
    wanted = ("senderPhone", "messagingServiceSid", "senderEmail", "senderName", "helpText")
    assert [response.json()[k] for k in wanted] == [
        "+12025550199",
        SERVICE,
        "news@acme.test",
        "Acme News",
        "Acme: help",
    ]
    org.refresh_from_db()
    assert org.sender_phone == "+12025550199" and org.messaging_service_sid == SERVICE
    assert api.patch(ORG, {"senderPhone": ""}).json()["senderPhone"] == ""  # back to the platform's


def test_a_number_or_service_of_another_organization_or_the_platform_is_refused(api, org, other_api, settings):
    api.patch(ORG, {"senderPhone": "+12025550199", "messagingServiceSid": SERVICE})
    with nothing_written(Organization):
        taken = other_api.patch(ORG, {"senderPhone": "+12025550199"})
        assert taken.status_code == 400 and taken.json()["message"].startswith("senderPhone:")
        service = other_api.patch(ORG, {"messagingServiceSid": SERVICE})
        assert service.status_code == 400 and service.json()["message"].startswith("messagingServiceSid:")
        settings.TWILIO_FROM_NUMBER = "+12025550198"
        assert other_api.patch(ORG, {"senderPhone": "+12025550198"}).status_code == 400
        assert other_api.patch(ORG, {"senderPhone": "not a phone"}).status_code == 400
        assert other_api.patch(ORG, {"messagingServiceSid": "MG123"}).status_code == 400
        assert other_api.patch(ORG, {"billed": 1}).status_code == 400  # read-only: the operator's


def test_only_org_admins_change_the_organization(org, client_for):
    sender = client_for(UserFactory(organization=org, email="s@acme.test", role=roles.SENDER))
    assert sender.get(ORG).status_code == 403
    assert sender.patch(ORG, {"helpText": "x"}).status_code == 403


def _sending(client_for, org, phone=ADA, email="ada@example.com"):
    group = GroupFactory(organization=org, number=1)
    SubscriberFactory(organization=org, first="Ada", phone=phone, email=email, text=True, groups=[group])
    return client_for(UserFactory(organization=org))


def test_sends_use_the_organizations_sender_identity(client_for, run_jobs):
    own = OrganizationFactory(name="Own", messaging_service_sid=SERVICE, sender_phone="+12025550199",
                              sender_email="hello@own.test", sender_name="Own Co")  # fmt: skip
    platform = OrganizationFactory(name="Platform")
    with run_in_thread(TwilioStub) as (t_url, twilio), run_in_thread(SendGridStub) as (s_url, sendgrid), \
            channels_to(twilio_url=t_url, sendgrid_url=s_url):  # fmt: skip
        for org, phone, email in ((own, ADA, "ada@example.com"), (platform, "+12025550102", "bob@example.com")):
            api = _sending(client_for, org, phone, email)
            blast = {"types": ["sms", "voice", "email"], "groups": [1], "message": "Hi", "subject": "News"}
            assert run_jobs(api.post, "/api/v1/blasts", blast).status_code == 200
        texts = {s["to"]: (s["from"], s["messaging_service_sid"]) for s in twilio.sends if s["kind"] == "sms"}
        calls = {s["to"]: s["from"] for s in twilio.sends if s["kind"] == "call"}
        emails = {s["to"]: (s["from"], s["from_name"]) for s in sendgrid.sends}
    assert texts == {ADA: ("", SERVICE), "+12025550102": (FROM_NUMBER, "")}
    assert calls == {ADA: "+12025550199", "+12025550102": FROM_NUMBER}  # a call needs a number
    assert emails == {"ada@example.com": ("hello@own.test", "Own Co"), "bob@example.com": (FROM_EMAIL, "")}


def texted(org, recipient=ADA, minutes_ago=10) -> Delivery:
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return DeliveryFactory(message__organization=org, message__types=["sms"], message__fanned_out_at=at,
                           channel="sms", recipient=recipient, status="delivered", sent_at=at)  # fmt: skip


@pytest.fixture
def two_tenants(db):
    """Own (its number +12025550199) texted Ada 20 minutes ago; Shared (the platform's number) 10."""
    own = OrganizationFactory(name="Own", sender_phone="+12025550199", help_text="Own: text us")
    shared = OrganizationFactory(name="Shared", help_text="Shared: call us")
    return own, shared, texted(own, minutes_ago=20), texted(shared, minutes_ago=10)


@pytest.mark.usefixtures("twilio")
def test_replies_are_attributed_by_the_number_they_arrived_on(twilio, two_tenants):
    own, shared, own_delivery, shared_delivery = two_tenants
    assert inbound(twilio, "Yes please", to="+12025550199").status_code in (200, 204)
    assert inbound(twilio, "No thanks").status_code in (200, 204)  # to the platform's number
    replies = {r.body: (r.organization_id, r.delivery_id) for r in Reply.objects.all()}
    assert replies == {"Yes please": (own.pk, own_delivery.pk), "No thanks": (shared.pk, shared_delivery.pk)}


@pytest.mark.usefixtures("twilio")
def test_a_messaging_service_attributes_the_text_to_its_organization(twilio, db):
    own = OrganizationFactory(name="Own", messaging_service_sid=SERVICE)
    mine = texted(own, minutes_ago=20)
    texted(OrganizationFactory(name="Shared"), minutes_ago=10)
    inbound(twilio, "Hello", to="+12025550177", service=SERVICE)
    assert list(Reply.objects.values_list("organization_id", "delivery_id")) == [(own.pk, mine.pk)]


@pytest.mark.usefixtures("twilio")
def test_stop_and_help_on_an_own_number_concern_that_organization_only(twilio, two_tenants):
    own, shared, _, _ = two_tenants
    inbound(twilio, "STOP", to="+12025550199")
    assert list(BlocklistEntry.objects.values_list("organization_id", flat=True)) == [own.pk]
    help_answer = inbound(twilio, "HELP", to="+12025550199").content.decode()
    assert "Own: text us" in help_answer and "Shared" not in help_answer
    inbound(twilio, "STOP")
    assert set(BlocklistEntry.objects.values_list("organization_id", flat=True)) == {own.pk, shared.pk}
