"""The admin pages of webhook endpoints and their deliveries, scoped to the organization."""

from tests.factories import EndpointFactory
from tests.writes import nothing_written
from webhooks.models import Endpoint, WebhookDelivery


def delivery_of(endpoint, event_type="import.finished") -> WebhookDelivery:
    return WebhookDelivery.objects.create(endpoint=endpoint, event_type=event_type, event_id=f"msg_{endpoint.pk}",
                                          payload="{}")  # fmt: skip


def test_an_admin_sees_the_endpoints_and_deliveries_of_their_organization_only(browser, org, other_org):
    mine = EndpointFactory(organization=org, url="https://mine.example/hook")
    theirs = EndpointFactory(organization=other_org, url="https://theirs.example/hook")
    delivery_of(mine, "message.sent")
    delivery_of(theirs, "link.clicked")
    page = browser.get("/admin/webhooks/endpoint/").content.decode()
    assert "mine.example" in page and "theirs.example" not in page
    page = browser.get("/admin/webhooks/webhookdelivery/").content.decode()
    assert "message.sent" in page and "link.clicked" not in page
    assert browser.get(f"/admin/webhooks/endpoint/{theirs.pk}/change/").status_code in (302, 404)


def test_an_admin_adds_an_endpoint_with_a_secret_and_deleting_it_hides_it(browser, org, settings):
    settings.ALLOW_PRIVATE_URLS = True
    form = {"url": "https://127.0.0.1:9/new", "events": ["message.failed"], "active": "on"}
    response = browser.post("/admin/webhooks/endpoint/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = Endpoint.objects.get(url="https://127.0.0.1:9/new")
    assert endpoint.organization == org and endpoint.secret.startswith("whsec_")
    browser.post(f"/admin/webhooks/endpoint/{endpoint.pk}/delete/", {"post": "yes"})
    assert not Endpoint.objects.live().filter(pk=endpoint.pk).exists()
    assert endpoint not in browser.get("/admin/webhooks/endpoint/").context["cl"].result_list


def test_the_admin_refuses_a_private_url_and_unknown_events(browser):
    with nothing_written(Endpoint):
        form = {"url": "http://10.0.0.5/hook", "events": ["message.exploded"]}
        page = browser.post("/admin/webhooks/endpoint/add/", form)
    assert page.status_code == 200
    assert (
        "private" in page.content.decode()
        and "message.exploded is not one of the available choices" in page.content.decode()
    )
