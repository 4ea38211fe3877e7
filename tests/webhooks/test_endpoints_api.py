"""GET/POST /webhooks, GET/PATCH/DELETE /webhooks/{id}, POST /webhooks/{id}/rotate-secret."""

import pytest

from tests.writes import nothing_written
from webhooks.models import EVENT_TYPES, Endpoint


def test_create_shows_the_secret_once_and_lists_the_endpoint(api, settings):
    settings.ALLOW_PRIVATE_URLS = True
    response = api.post("/api/v1/webhooks", {"url": "https://127.0.0.1/hook", "events": ["message.sent"]})
    assert response.status_code == 201
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert {k: v for k, v in created.items() if k not in ("id", "createdAt", "secret")} == {
        "url": "https://127.0.0.1/hook", "events": ["message.sent"], "active": 1, "disabledReason": None,
    }  # fmt: skip
    shown = api.get(f"/api/v1/webhooks/{created['id']}").json()
    assert "secret" not in shown and shown["id"] == created["id"]
    assert [e["id"] for e in api.get("/api/v1/webhooks").json()] == [created["id"]]


def test_events_default_to_all(api, settings):
    settings.ALLOW_PRIVATE_URLS = True
    response = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"})
    assert response.json()["events"] == list(EVENT_TYPES)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://127.0.0.1/hook"}, "url"),  # loopback
        ({"url": "http://10.1.2.3/hook"}, "url"),  # private
        ({"url": "http://169.254.169.254/latest"}, "url"),  # link-local (cloud metadata)
        ({"url": "http://100.64.0.1/hook"}, "url"),  # CGNAT
        ({"url": "http://224.0.0.1/hook"}, "url"),  # multicast
        ({"url": "http://[fd00::1]/hook"}, "url"),  # IPv6 unique-local
        ({"url": "http://[fec0::1]/hook"}, "url"),  # IPv6 site-local
        ({"url": "http://[2002:a00:1::1]/hook"}, "url"),  # 6to4 of 10.0.0.1
        ({"url": "http://localhost/hook"}, "url"),
        ({"url": "https://93.184.215.14/x", "events": []}, "events"),
        ({"url": "https://93.184.215.14/x", "events": ["message.exploded"]}, "events"),
        ({"url": "https://93.184.215.14/x", "secret": "whsec_mine"}, "secret"),
        ({"events": ["message.sent"]}, "url"),
    ],
)
def test_bad_endpoints_are_refused_naming_the_field(api, body, field):
    with nothing_written(Endpoint):
        response = api.post("/api/v1/webhooks", body)
    assert response.status_code == 400
    assert field in response.json()["message"]
    assert any(name.split(".")[0] == field for name in response.json()["errors"])


def test_patch_changes_events_and_another_organizations_endpoint_is_a_404(api, other_api, settings):
    settings.ALLOW_PRIVATE_URLS = True
    endpoint = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}).json()
    path = f"/api/v1/webhooks/{endpoint['id']}"
    response = api.patch(path, {"events": ["link.clicked", "message.failed"]})
    assert response.status_code == 200 and response.json()["events"] == ["message.failed", "link.clicked"]
    assert other_api.get(path).status_code == 404
    assert other_api.patch(path, {"active": False}).status_code == 404
    assert other_api.delete(path).status_code == 404
    assert other_api.get("/api/v1/webhooks").json() == []


def test_patch_refuses_a_private_url_in_production(api, settings):
    settings.ALLOW_PRIVATE_URLS = True
    endpoint = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}).json()
    settings.ALLOW_PRIVATE_URLS = False
    stored = Endpoint.objects.get(pk=endpoint["id"])
    with nothing_written(stored):
        response = api.patch(f"/api/v1/webhooks/{endpoint['id']}", {"url": "http://192.168.0.10/hook"})
    assert response.status_code == 400 and "url" in response.json()["errors"]


def test_delete_hides_the_endpoint(api, settings):
    settings.ALLOW_PRIVATE_URLS = True
    endpoint = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}).json()
    assert api.delete(f"/api/v1/webhooks/{endpoint['id']}").status_code == 204
    assert api.get(f"/api/v1/webhooks/{endpoint['id']}").status_code == 404
    assert api.get("/api/v1/webhooks").json() == []


def test_rotate_secret_gives_a_new_secret_and_keeps_the_old_one_a_day(api, settings):
    settings.ALLOW_PRIVATE_URLS = True
    endpoint = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}).json()
    response = api.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret")
    assert response.status_code == 200
    assert response.json()["secret"].startswith("whsec_") and response.json()["secret"] != endpoint["secret"]
    stored = Endpoint.objects.get(pk=endpoint["id"])
    assert stored.previous_secret == endpoint["secret"]


def test_a_viewer_may_read_but_not_write(org, client_for, settings):
    from connext import roles
    from tests.factories import EndpointFactory, UserFactory

    EndpointFactory(organization=org)
    viewer = client_for(UserFactory(organization=org, role=roles.VIEWER))
    assert viewer.get("/api/v1/webhooks").status_code == 200
    assert viewer.post("/api/v1/webhooks", {"url": "https://93.184.215.14/x"}).status_code == 403
