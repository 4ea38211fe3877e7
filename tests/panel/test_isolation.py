"""Two organizations, one of each thing the admin shows: an organization's admin sees only
their own, on every page of the admin (each list, each change page, the dashboard, compose,
import)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from connext.models import Organization, User
from tests.factories import (
    APIKeyFactory,
    BlocklistEntryFactory,
    ConsoleSendFactory,
    DeliveryFactory,
    DeviceFactory,
    EndpointFactory,
    GroupFactory,
    ImportJobFactory,
    MessageFactory,
    PairingCodeFactory,
    ScheduleFactory,
    SubscriberFactory,
    TemplateFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MARK = "Globex-secret"


def one_of_each(org, user) -> list:
    """A row of every kind the admin lists, for `org`, named with MARK where a name is shown."""
    group = GroupFactory(organization=org, name=f"{MARK} group")
    message = MessageFactory(organization=org, user=user, message=f"{MARK} news", recipients=1)
    delivery = DeliveryFactory(message=message, status="failed", error_message=f"{MARK} error")
    endpoint = EndpointFactory(organization=org, url="https://globex.example/hook")
    from webhooks.models import WebhookDelivery

    return [
        group,
        SubscriberFactory(organization=org, first=MARK, phone="+12025550199", groups=[group]),
        BlocklistEntryFactory(organization=org, recipient="globex-secret@globex.test"),
        ImportJobFactory(organization=org, source=f"{MARK}.csv"),
        TemplateFactory(organization=org, title=f"{MARK} template", groups=[group]),
        ScheduleFactory(organization=org, title=f"{MARK} schedule", groups=[group]),
        message,
        delivery,
        ConsoleSendFactory(delivery=DeliveryFactory(message=message, status="sent"), body=f"{MARK} body"),
        DeviceFactory(organization=org, name=f"{MARK} phone"),
        PairingCodeFactory(organization=org),
        endpoint,
        WebhookDelivery.objects.create(
            endpoint=endpoint, event_type="message.delivered", event_id=f"{MARK}-event", payload={}
        ),
        APIKeyFactory(user=user, name=f"{MARK} key"),
    ]


def organization_of(obj) -> int | None:
    if isinstance(obj, Organization):
        return obj.pk
    model_admin = admin.site._registry[type(obj)]
    value = obj
    for part in getattr(model_admin, "org_field", "organization").split("__"):
        value = getattr(value, part)
    return value.pk


@pytest.fixture
def theirs(other_org):
    user = UserFactory(organization=other_org, email="globex-secret@globex.test", first_name=MARK)
    return one_of_each(other_org, user)


@pytest.fixture
def ours(org, admin_user):
    return one_of_each_of_ours(org, admin_user)


def one_of_each_of_ours(org, user):
    group = GroupFactory(organization=org, name="Acme group")
    message = MessageFactory(organization=org, user=user, message="Acme news", recipients=1)
    DeliveryFactory(message=message, status="delivered")
    return [group, message]


def test_every_list_shows_only_the_admins_organization(browser, org, ours, theirs):
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = browser.get(url)
        assert response.status_code in (200, 403), url
        if response.status_code == 403:
            continue
        page = response.content.decode()
        assert MARK not in page and "Globex" not in page, url
        for obj in response.context["cl"].result_list:
            assert organization_of(obj) == org.pk, (url, obj)


def test_no_change_page_of_another_organizations_row_opens(browser, theirs):
    for obj in theirs:
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
        response = browser.get(url)
        assert response.status_code in (302, 403, 404), url
        assert MARK.encode() not in response.content, url
    message = next(obj for obj in theirs if obj._meta.model_name == "message")
    assert browser.post(f"/admin/logs/message/{message.pk}/cancel/").status_code == 404
    assert message.deliveries.filter(status="canceled").count() == 0


def test_the_dashboard_compose_and_import_show_only_the_admins_organization(browser, ours, theirs):
    for url in ["/admin/", "/admin/compose/", "/admin/subscribers/subscriber/import/",
                f"/admin/logs/delivery/?message__id__exact={theirs[6].pk}"]:  # fmt: skip
        page = browser.get(url).content.decode()
        assert MARK not in page and "Globex" not in page, url
    assert "Acme news" in browser.get("/admin/").content.decode()


def test_their_template_is_not_a_starting_point(browser, theirs):
    template = next(obj for obj in theirs if obj._meta.model_name == "template")
    page = browser.get(f"/admin/compose/?template={template.pk}").content.decode()
    assert MARK not in page


def test_their_users_are_not_listed(browser, theirs):
    page = browser.get("/admin/connext/user/").content.decode()
    assert "globex-secret@globex.test" not in page
    assert User.objects.filter(email="globex-secret@globex.test").exists()
