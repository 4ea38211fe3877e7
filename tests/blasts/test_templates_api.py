"""GET/POST /templates, GET/PATCH/DELETE /templates/{id}."""

import pytest

from blasts.models import Template
from connext import roles
from tests.factories import GroupFactory, TemplateFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/templates"
TEMPLATE_ROWS = (Template, Template.groups.through, Template.dnc.through)  # the rows and their audiences


@pytest.fixture
def groups(org):
    return [GroupFactory(organization=org, name=f"G{n}", number=n) for n in (1, 2, 3)]


FULL = {
    "title": "Snow day",
    "types": ["sms", "email"],
    "message": "Hi {first|there}, school is closed.",
    "subject": "Closed today",
    "voiceFallback": True,
    "groups": [1, 2],
    "dnc": [3],
    "media": [{"url": "https://cdn.example.com/snow.jpg", "type": "image/jpeg"}],
    "shortenLinks": True,
    "ivr": False,
}


def test_create_returns_every_documented_field(api, groups):
    response = api.post(TEMPLATES, FULL)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "title": "Snow day",
        "types": ["sms", "email"],
        "message": "Hi {first|there}, school is closed.",
        "subject": "Closed today",
        "voiceFallback": 1,
        "groups": [1, 2],
        "dnc": [3],
        "files": [{"url": "https://cdn.example.com/snow.jpg", "type": "image/jpeg"}],
        "shortenLinks": 1,
        "ivr": 0,
    }
    assert api.get(f"{TEMPLATES}/{body['id']}").json() == body
    listing = api.get(TEMPLATES)
    assert listing.status_code == 200 and listing.json() == [body] and listing["X-Total-Count"] == "1"


def test_minimal_template_defaults(api):
    body = api.post(TEMPLATES, {"title": "Hello", "types": ["voice"]}).json()
    assert body["groups"] == [] and body["dnc"] == [] and body["files"] == []
    assert body["voiceFallback"] == 0 and body["shortenLinks"] == 0 and body["ivr"] == 0 and body["message"] == ""


def test_patch_changes_only_what_is_sent(api, groups):
    template_id = api.post(TEMPLATES, FULL).json()["id"]
    response = api.patch(f"{TEMPLATES}/{template_id}", {"title": "Ice day", "groups": [3], "ivr": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "Ice day" and body["groups"] == [3] and body["ivr"] == 1
    assert body["dnc"] == [3] and body["message"] == FULL["message"]


def test_delete(api, groups):
    template_id = api.post(TEMPLATES, FULL).json()["id"]
    response = api.delete(f"{TEMPLATES}/{template_id}")
    assert response.status_code == 204 and response.content == b""
    assert api.get(f"{TEMPLATES}/{template_id}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"types": ["sms"]}, "title"),
        ({"title": "  ", "types": ["sms"]}, "title"),
        ({"title": "t"}, "types"),
        ({"title": "t", "types": ["fax"]}, "types"),
        ({"title": "t", "types": "sms"}, "types"),
        ({"title": "t", "types": ["sms"], "groups": [9]}, "groups"),
        ({"title": "t", "types": ["sms"], "dnc": [9]}, "dnc"),
        ({"title": "t", "types": ["sms"], "message": "Hi {nmae}"}, "message"),
        ({"title": "t", "types": ["sms"], "media": [{"url": "javascript:alert(1)"}]}, "media"),
        # An unclosed IPv6 host made urlsplit raise: a 500 (found by the fuzzer).
        ({"title": "t", "types": ["sms"], "media": [{"url": "http://[::1"}]}, "media.0.url"),
        ({"title": "t", "types": ["sms"], "media": [{"url": "https://a]b/c.png"}]}, "media.0.url"),
        ({"title": "t", "types": ["sms"], "media": [{"url": "http://ex\u2100mple.com"}]}, "media.0.url"),  # a/c
        ({"title": "t", "types": ["sms"], "ivr": "maybe"}, "ivr"),
        ({"title": "t", "types": ["sms"], "files": []}, "files"),
        ({"title": 5, "types": ["sms"]}, "title"),
    ],
)
def test_bad_input_is_400_naming_the_field(api, groups, payload, field):
    with nothing_written(*TEMPLATE_ROWS):
        response = api.post(TEMPLATES, payload)
    assert response.status_code == 400, response.content
    assert response.json()["message"].startswith(field), response.json()


def test_failed_patch_changes_nothing(api, groups):
    template_id = api.post(TEMPLATES, FULL).json()["id"]
    with nothing_written(Template.objects.get(pk=template_id)):
        response = api.patch(f"{TEMPLATES}/{template_id}", {"title": "New", "groups": [3], "dnc": [42]})
    assert response.status_code == 400 and response.json()["message"].startswith("dnc")


def test_other_organizations_templates_are_404(org, other_api, groups):
    ours = TemplateFactory(organization=org, groups=groups[:2], dnc=groups[2:])
    assert other_api.get(f"{TEMPLATES}/{ours.id}").status_code == 404
    with nothing_written(*TEMPLATE_ROWS):
        assert other_api.patch(f"{TEMPLATES}/{ours.id}", {"title": "x", "groups": []}).status_code == 404
        assert other_api.delete(f"{TEMPLATES}/{ours.id}").status_code == 404
    assert other_api.get(TEMPLATES).json() == []


def test_viewer_reads_but_cannot_write(org, groups, client_for):
    ours = TemplateFactory(organization=org, groups=groups[:1])
    viewer = client_for(UserFactory(organization=org, email="viewer@acme.test", role=roles.VIEWER))
    assert [t["id"] for t in viewer.get(TEMPLATES).json()] == [ours.id]
    with nothing_written(*TEMPLATE_ROWS):
        assert viewer.post(TEMPLATES, FULL).status_code == 403
        assert viewer.patch(f"{TEMPLATES}/{ours.id}", {"title": "x"}).status_code == 403
        assert viewer.delete(f"{TEMPLATES}/{ours.id}").status_code == 403
