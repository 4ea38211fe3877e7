"""The factories make the rows a test asks for, as many as it asks for, tied to the rows it names."""

import pytest
from django.utils import timezone

from tests import factories
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

ALL = [
    factories.OrganizationFactory,
    factories.UserFactory,
    factories.APIKeyFactory,
    factories.GroupFactory,
    factories.SubscriberFactory,
    factories.SegmentFactory,
    factories.BlocklistEntryFactory,
    factories.ImportJobFactory,
    factories.TemplateFactory,
    factories.ScheduleFactory,
    factories.MessageFactory,
    factories.DeliveryFactory,
    factories.ConsoleSendFactory,
    factories.LinkFactory,
    factories.ClickFactory,
    factories.ReplyFactory,
    factories.PairingCodeFactory,
]


@pytest.mark.parametrize("factory", ALL, ids=lambda f: f.__name__)
def test_every_factory_makes_rows_that_do_not_clash(factory):
    """Three in a row, with nothing given: the unique fields (phones, emails, codes, numbers) differ."""
    rows = factory.create_batch(3)
    assert factory._meta.model.objects.filter(pk__in=[row.pk for row in rows]).count() == 3


def test_a_subscriber_joins_the_groups_given(org):
    parents, staff = factories.GroupFactory.create_batch(2, organization=org)
    ada = factories.SubscriberFactory(organization=org, groups=[parents, staff])
    assert set(ada.groups.all()) == {parents, staff}
    assert not factories.SubscriberFactory(organization=org).groups.exists()


def test_a_template_takes_its_audience_as_groups(org, api):
    parents, staff, dnc = factories.GroupFactory.create_batch(3, organization=org)
    template = factories.TemplateFactory(organization=org, groups=[parents, staff], dnc=[dnc])
    body = api.get(f"/api/v1/templates/{template.pk}").json()
    assert (body["groups"], body["dnc"]) == (sorted([parents.number, staff.number]), [dnc.number])


def test_an_api_key_carries_its_plaintext_once(admin_user):
    key = factories.APIKeyFactory(user=admin_user, scope="send")
    assert key.organization == admin_user.organization and key.plaintext.startswith("cnxt_")
    assert ApiClient(key.plaintext).get("/api/v1/groups").status_code == 403  # send-only: never reads


def test_an_email_delivery_gets_an_email_address_and_the_blocklist_its_type():
    assert "@" in factories.DeliveryFactory(channel="email").recipient
    assert factories.DeliveryFactory(channel="sms").recipient.startswith("+1")
    email = factories.BlocklistEntryFactory(recipient="ada@example.com")
    stop = factories.BlocklistEntryFactory(reason="stop")
    assert (email.type, email.manual, stop.type, stop.manual) == ("email", True, "phone", False)


def test_the_related_rows_follow_the_one_given(org):
    delivery = factories.DeliveryFactory(message__organization=org)
    reply = factories.ReplyFactory(delivery=delivery)
    click = factories.ClickFactory(link__delivery=delivery)
    sent = factories.ConsoleSendFactory(delivery=delivery)
    assert reply.organization == org and reply.from_number == delivery.recipient
    assert click.delivery == delivery and click.url == click.link.url
    assert (sent.channel, sent.to) == (delivery.channel, delivery.recipient)
    assert factories.PairingCodeFactory(organization=org).usable
    assert not factories.PairingCodeFactory(organization=org, expires_at=timezone.now()).usable
