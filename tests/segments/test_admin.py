"""Admin panel, Segments: an organization's admin sees its own segments, and cannot edit them there."""

import pytest

from tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db

SEGMENTS = "/admin/segments/segment/"


def test_org_admin_sees_only_their_segments_read_only(browser, org, other_org):
    ours = SegmentFactory(organization=org, name="Germans", where={"attr.COUNTRY": "DE"})
    SegmentFactory(organization=other_org, name="Theirs")
    listed = browser.get(SEGMENTS)
    assert listed.status_code == 200 and list(listed.context["cl"].result_list) == [ours]
    assert browser.get(f"{SEGMENTS}add/").status_code == 403
    page = browser.get(f"{SEGMENTS}{ours.pk}/change/")
    assert page.status_code == 200 and b"attr.COUNTRY" in page.content
    assert browser.post(f"{SEGMENTS}{ours.pk}/change/", {"name": "x"}).status_code == 403
