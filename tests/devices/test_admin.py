"""The fleet in the admin: health at a glance, an "Add device" button, limits editable."""

import pytest

from devices.models import Device, PairingCode

pytestmark = pytest.mark.django_db


def test_the_fleet_page_shows_health_and_offers_to_add_a_device(browser, org, other_org, phone_of, external_send):
    org.routes = {"sms": "device"}
    org.save()
    phone = phone_of(org, name="Shop phone", battery=64)
    phone_of(org, name="Drawer phone", last_seen_at=None)
    phone_of(other_org, name="Not ours")
    for outcome in ("delivered", "failed"):
        external_send(device_id=phone.id)
        [task] = phone.poll()
        phone.report(task["id"], outcome)
    page = browser.get("/admin/devices/device/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Shop phone" in html and "Drawer phone" in html and "Not ours" not in html
    assert "online" in html and "offline" in html and "50.0 %" in html
    assert "/admin/devices/pairingcode/add/" in html and "Add device" in html


def test_adding_a_device_issues_a_pairing_code(browser, org):
    response = browser.post("/admin/devices/pairingcode/add/", {}, follow=True)
    code = PairingCode.objects.get(organization=org)
    assert code.code in response.content.decode()


def test_limits_are_edited_in_the_admin(browser, org, phone_of):
    phone = phone_of(org, name="Shop phone")
    url = f"/admin/devices/device/{phone.id}/change/"
    form = {"name": "Shop", "active": "on", "daily_cap": "250", "min_delay_seconds": "5", "jitter_seconds": "2",
            "monthly_recipient_cap": ""}  # fmt: skip
    assert browser.post(url, form).status_code == 302
    device = Device.objects.get(pk=phone.device.pk)
    assert (device.name, device.daily_cap, device.min_delay_seconds) == ("Shop", 250, 5)
