"""factory-boy factories: one per model the tests build rows of.

Every factory makes a valid row with nothing given; pass what the test is about. Related rows
are made on demand (`DeliveryFactory()` makes its message and that message's organization),
so a test names only the organization it reads as, e.g. `SubscriberFactory(organization=org)`.

Defaults stay clear of the addresses the tests spell out (+1202555..., ada@example.com):
made-up phones are +1415555NNNN, made-up emails sNNN@factory.test.
"""

import datetime
import secrets

import factory
from django.utils import timezone

from apikeys.models import APIKey
from apikeys.services import api_key_create
from blasts.models import ConsoleSend, Template
from connext import roles
from connext.models import Organization, User
from connext.services import user_create
from devices.models import Device, PairingCode
from devices.services import TOKEN_PREFIX, hash_token
from groups.models import Group
from logs.models import Click, Delivery, Link, Message, Reply
from schedules.models import Schedule
from segments.models import Segment
from subscribers.models import BlocklistEntry, ImportJob, Subscriber
from webhooks import subscriptions
from webhooks.models import EVENT_TYPES, Endpoint
from webhooks.signing import new_secret


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True
        # Post-generation hooks save what they change themselves: no second save() of every row.
        skip_postgeneration_save = True


def _phone(n: int) -> str:
    return f"+1415555{n % 10_000:04d}"


def _set_many(field: str):
    """A post-generation hook: `Factory(field=[rows])` sets that many-to-many field."""

    def hook(obj, create, extracted, **kwargs):
        if create and extracted is not None:
            getattr(obj, field).set(extracted)

    return factory.PostGeneration(hook)


# --- tenancy ------------------------------------------------------------------------------


class OrganizationFactory(ModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")


class UserFactory(ModelFactory):
    """A user with a role (`role=`, org admin by default), made as `createorg` makes them."""

    class Meta:
        model = User

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")

    @classmethod
    def _create(cls, model_class, *args, role=roles.ORG_ADMIN, **kwargs):
        return user_create(
            organization=kwargs["organization"],
            email=kwargs["email"],
            role=role,
            password=kwargs.get("password"),
            phone=kwargs.get("phone", ""),
        )


class APIKeyFactory(ModelFactory):
    """An API key of `user`; the plaintext, never stored, is on the instance as `.plaintext`."""

    class Meta:
        model = APIKey

    user = factory.SubFactory(UserFactory)
    name = "test key"
    scope = APIKey.Scope.FULL
    expires_at = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        key, plaintext = api_key_create(
            user=kwargs["user"], name=kwargs["name"], scope=kwargs["scope"], expires_at=kwargs["expires_at"]
        )
        key.plaintext = plaintext
        return key


def make_api_key(user: User, *, scope: str = APIKey.Scope.FULL, **kwargs) -> tuple[APIKey, str]:
    """(key, plaintext) of a new key of `user`."""
    key = APIKeyFactory(user=user, scope=scope, **kwargs)
    return key, key.plaintext


# --- groups and subscribers ---------------------------------------------------------------


class GroupFactory(ModelFactory):
    class Meta:
        model = Group

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Group {n}")
    number = factory.Sequence(lambda n: n + 1)


class SegmentFactory(ModelFactory):
    """A saved filter (no condition: everyone of the organization unless given groups/where/keyword)."""

    class Meta:
        model = Segment

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Segment {n}")


class SubscriberFactory(ModelFactory):
    """A subscriber with a phone (enabled, not texting); `groups=[group, ...]` makes them a member."""

    class Meta:
        model = Subscriber

    organization = factory.SubFactory(OrganizationFactory)
    first = factory.Sequence(lambda n: f"Sub{n}")
    phone = factory.Sequence(_phone)
    groups = _set_many("groups")


class BlocklistEntryFactory(ModelFactory):
    """A blocked address: `recipient="+1..."` or `recipient="a@b.test"` (the type follows);
    a manual block unless `reason=` says the recipient opted out."""

    class Meta:
        model = BlocklistEntry

    organization = factory.SubFactory(OrganizationFactory)
    recipient = factory.Sequence(_phone)
    type = factory.LazyAttribute(
        lambda o: BlocklistEntry.Type.EMAIL if "@" in o.recipient else BlocklistEntry.Type.PHONE
    )
    reason = BlocklistEntry.Reason.MANUAL
    manual = factory.LazyAttribute(lambda o: o.reason == BlocklistEntry.Reason.MANUAL)


class ImportJobFactory(ModelFactory):
    """A queued CSV import job (the payload is what the worker would read)."""

    class Meta:
        model = ImportJob

    organization = factory.SubFactory(OrganizationFactory)
    source = "people.csv"
    source_format = "csv"
    payload = b"phone\n+14155550100\n"


# --- blasts -------------------------------------------------------------------------------


class TemplateFactory(ModelFactory):
    """A saved blast; `groups=[...]` and `dnc=[...]` take group rows."""

    class Meta:
        model = Template

    organization = factory.SubFactory(OrganizationFactory)
    title = factory.Sequence(lambda n: f"Template {n}")
    types = factory.LazyFunction(lambda: ["sms"])
    message = "Hi {first|there}"
    groups = _set_many("groups")
    dnc = _set_many("dnc")


class ScheduleFactory(ModelFactory):
    """A recurring daily schedule, due now (`next`); `groups=[...]` takes group rows."""

    class Meta:
        model = Schedule

    organization = factory.SubFactory(OrganizationFactory)
    title = factory.Sequence(lambda n: f"Schedule {n}")
    types = factory.LazyFunction(lambda: ["sms"])
    message = "Good morning {first|there}"
    start_date = factory.LazyFunction(lambda: timezone.now().date())
    start_time = factory.LazyFunction(lambda: timezone.now().time().replace(second=0, microsecond=0))
    frequency = "days"
    every = 1
    next = factory.LazyFunction(timezone.now)
    timezone = "UTC"  # after the lines above: in the class body the name is the field from here on
    groups = _set_many("groups")


class MessageFactory(ModelFactory):
    """A blast's log row, as after its fan-out (`fanned_out_at` set): add its rows with DeliveryFactory.
    `fanned_out_at=None` is one the fan-out has not reached yet."""

    class Meta:
        model = Message

    organization = factory.SubFactory(OrganizationFactory)
    types = factory.LazyFunction(lambda: ["sms"])
    message = "Hi"
    fanned_out_at = factory.LazyFunction(timezone.now)


class DeliveryFactory(ModelFactory):
    """One recipient on one channel of a message (queued, a made-up address of the channel's kind)."""

    class Meta:
        model = Delivery

    message = factory.SubFactory(MessageFactory)
    channel = "sms"
    recipient = factory.LazyAttributeSequence(
        lambda o, n: f"d{n}@factory.test" if o.channel == "email" else _phone(5000 + n)
    )
    status = Delivery.Status.QUEUED


class ConsoleSendFactory(ModelFactory):
    """What the console channel 'sent' for a delivery."""

    class Meta:
        model = ConsoleSend

    delivery = factory.SubFactory(DeliveryFactory, status=Delivery.Status.SENT, provider="console")
    channel = factory.SelfAttribute("delivery.channel")
    to = factory.SelfAttribute("delivery.recipient")
    body = "Hi"


class LinkFactory(ModelFactory):
    """A short link of a delivery."""

    class Meta:
        model = Link

    code = factory.Sequence(lambda n: f"f{n:07d}")
    delivery = factory.SubFactory(DeliveryFactory, status=Delivery.Status.SENT)
    url = "https://school.example/menu"


class ClickFactory(ModelFactory):
    """A click on a short link; `link=None, delivery=...` is a click a provider reported."""

    class Meta:
        model = Click

    link = factory.SubFactory(LinkFactory)
    delivery = factory.LazyAttribute(lambda o: o.link.delivery)
    url = factory.LazyAttribute(lambda o: o.link.url if o.link else "")


class ReplyFactory(ModelFactory):
    """An inbound text answering a delivery (`delivery=None, organization=...`: answering nothing)."""

    class Meta:
        model = Reply

    delivery = factory.SubFactory(DeliveryFactory, status=Delivery.Status.DELIVERED)
    organization = factory.LazyAttribute(lambda o: o.delivery.message.organization)
    from_number = factory.LazyAttribute(lambda o: o.delivery.recipient if o.delivery else _phone(9999))
    to_number = "+15005550006"
    body = "Thanks"
    provider_id = factory.Sequence(lambda n: f"SMfactory{n:024d}")


# --- devices ------------------------------------------------------------------------------


class PairingCodeFactory(ModelFactory):
    """A usable pairing code (expires in ten minutes); `used_at=`/`expires_at=` for the others."""

    class Meta:
        model = PairingCode

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"FACT{n:04d}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(minutes=10))


class DeviceFactory(ModelFactory):
    """A paired phone, online (heartbeat just now); its token, never stored, is `.token`."""

    class Meta:
        model = Device

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Phone {n}")
    phone_number = factory.Sequence(lambda n: _phone(n + 5000))
    last_seen_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        token = TOKEN_PREFIX + secrets.token_urlsafe(16)
        device = model_class.objects.create(*args, token_hash=hash_token(token), **kwargs)
        device.token = token
        return device


# --- webhooks -----------------------------------------------------------------------------


class EndpointFactory(ModelFactory):
    """An active webhook endpoint for every event type (`url=` the test's receiver)."""

    class Meta:
        model = Endpoint

    organization = factory.SubFactory(OrganizationFactory)
    url = "https://127.0.0.1:9/connext"  # refused at once unless a test allows private URLs
    events = factory.LazyFunction(lambda: list(EVENT_TYPES))
    secret = factory.LazyFunction(new_secret)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        super()._after_postgeneration(instance, create, results)
        if create:
            subscriptions.changed()  # as the API's writes do
