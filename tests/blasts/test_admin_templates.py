"""Templates in the admin: types are boxes to tick and media lines of URLs, never raw JSON."""

import pytest

from blasts.models import Template
from tests.factories import TemplateFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

ADD = "/admin/blasts/template/add/"


def form(**fields) -> dict:
    return {"title": "Closure", "types": ["sms", "mms"], "message": "Closed today", "subject": "",
            "files": "https://cdn.example/closed.jpg image/jpeg\n\nhttps://cdn.example/map.png", **fields}  # fmt: skip


def test_a_template_is_made_from_boxes_and_lines(browser, org):
    response = browser.post(ADD, form())
    assert response.status_code == 302, response.content.decode()[:3000]
    template = Template.objects.get(title="Closure")
    assert template.types == ["sms", "mms"]
    assert template.files == [{"url": "https://cdn.example/closed.jpg", "type": "image/jpeg"},
                              {"url": "https://cdn.example/map.png"}]  # fmt: skip


def test_its_page_shows_names_not_json(browser, org):
    template = TemplateFactory(organization=org, types=["sms", "email"],
                               files=[{"url": "https://cdn.example/a.jpg", "type": "image/jpeg"}])  # fmt: skip
    page = browser.get(f"/admin/blasts/template/{template.pk}/change/").content.decode()
    assert 'value="email" id="id_types_3" checked' in page
    assert ">\nhttps://cdn.example/a.jpg image/jpeg</textarea>" in page
    assert "[&quot;sms&quot;" not in page
    assert '<td class="field-types_shown">sms, email</td>' in browser.get("/admin/blasts/template/").content.decode()


def test_a_bad_media_url_is_refused_with_the_apis_message(browser, org):
    with nothing_written(Template):
        page = browser.post(ADD, form(files="ftp://cdn.example/a.jpg")).content.decode()
    assert "Line 1: url:" in page
