"""Routing per organization: an organization's own route and sender, else the platform default."""

import pytest
from django.test import override_settings

from blasts.channels import channel_for, route
from blasts.models import ConsoleSend
from logs.models import Delivery
from tests.factories import GroupFactory, OrganizationFactory, SubscriberFactory, UserFactory
from tests.stubs import run_in_thread
from tests.stubs.channels import FROM_NUMBER, channels_to
from tests.stubs.twilio_stub import TwilioStub

pytestmark = pytest.mark.django_db


@pytest.fixture
def twilio():
    """Twilio set up for the platform (the stub behind the real SDK); email stays on the console."""
    with run_in_thread(TwilioStub) as (url, stub), channels_to(twilio_url=url):
        yield stub


def organization_sending(client_for, phone: str, **org_fields):
    """An organization with one subscriber in group 1, and an API client of its admin."""
    org = OrganizationFactory(**org_fields)
    group = GroupFactory(organization=org, number=1)
    SubscriberFactory(organization=org, first="Ada", phone=phone, text=True, groups=[group])
    return org, client_for(UserFactory(organization=org))


def send(run_jobs, api) -> list[Delivery]:
    response = run_jobs(api.post, "/api/v1/blasts", {"types": ["sms"], "groups": [1], "message": "Hi {first}"})
    assert response.status_code == 200, response.content
    return list(Delivery.objects.filter(message_id=response.json()["id"]))


def test_one_organization_on_its_own_route_another_on_the_platform_default(twilio, client_for, run_jobs):
    _, own_api = organization_sending(client_for, "+12025550101", routes={"sms": "console"})
    _, platform_api = organization_sending(client_for, "+12025550102")

    [mine] = send(run_jobs, own_api)
    [theirs] = send(run_jobs, platform_api)

    assert (mine.provider, mine.status) == ("console", "delivered")
    assert ConsoleSend.objects.get(delivery_id=mine.pk).body == "Hi Ada"
    assert (theirs.provider, theirs.status) == ("twilio", "sent")
    assert [(s["to"], s["from"], s["body"]) for s in twilio.sends] == [("+12025550102", FROM_NUMBER, "Hi Ada")]


def test_an_organization_sends_from_its_own_number(twilio, client_for, run_jobs):
    _, api = organization_sending(client_for, "+12025550103", sender_phone="+12025559999")

    [delivery] = send(run_jobs, api)

    assert delivery.provider == "twilio"
    assert [(s["to"], s["from"]) for s in twilio.sends] == [("+12025550103", "+12025559999")]


def test_a_route_to_a_provider_not_set_up_or_not_for_that_kind_falls_back_to_the_default(twilio):
    assert route("sms") == "twilio" and route("email") == "console"
    nowhere = OrganizationFactory(routes={"sms": "sendgrid", "email": "twilio", "voice": "carrier-pigeon"})
    assert [route(kind, nowhere) for kind in ("sms", "email", "voice")] == ["twilio", "console", "twilio"]
    with override_settings(TWILIO_ACCOUNT_SID=""):  # Twilio no longer set up: everything on the console
        assert route("sms", OrganizationFactory(routes={"sms": "twilio"})) == "console"
    assert channel_for("sms", nowhere).name == "twilio"


def test_org_admins_cannot_change_their_route_sender_or_rate_limit_in_the_admin(org, client):
    admin = UserFactory(organization=org, password="pw-123456789")
    client.force_login(admin)
    response = client.get(f"/admin/connext/organization/{org.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    for field in ("routes", "sender_phone", "sender_email", "rate_limit"):
        assert f'name="{field}"' not in page  # shown read-only, not as an input
    assert 'name="help_text"' in page
    client.post(
        f"/admin/connext/organization/{org.pk}/change/",
        {"name": org.name, "timezone": "UTC", "default_region": "US", "help_text": "", "rate_limit": "999999",
         "routes": '{"sms": "console"}'},
    )  # fmt: skip
    org.refresh_from_db()
    assert (org.rate_limit, org.routes) == (None, {})
