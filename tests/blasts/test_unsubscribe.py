"""Unsubscribe links (`/u/{token}`) only ever stop email: a signed token naming anything but an
email address (a phone number above all: it would stop the person's texts and calls) is
refused like a forged one, a 404 that blocks nothing."""

import pytest
from django.core import signing

from subscribers.models import BlocklistEntry
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

SALT = "connext.unsubscribe"  # blasts.unsubscribe's


def signed(payload) -> str:
    """A token as blasts.unsubscribe signs them (with SECRET_KEY): `/u/<token>`."""
    return "/u/" + signing.dumps(payload, salt=SALT, compress=True)


@pytest.mark.parametrize(
    "address",
    ["+12025550101", "2025550101", "(202) 555-0101", "not an address", "", "ada@", 12025550101, None, ["a@b.test"]],
)
def test_a_token_over_anything_but_an_email_unsubscribes_nothing(client, org, address):
    url = signed({"o": org.pk, "e": address})
    with nothing_written(BlocklistEntry):
        page = client.get(url)
        button = client.post(url)
        one_click = client.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert (page.status_code, button.status_code, one_click.status_code) == (404, 404, 404)
    assert b"not valid" in button.content


@pytest.mark.parametrize("payload", [["+12025550101"], "ada@example.com", {"e": "ada@example.com"}, {"o": "1"}])
def test_a_token_of_another_shape_is_404_not_500(client, org, payload):
    with nothing_written(BlocklistEntry):
        assert client.post(signed(payload)).status_code == 404


def test_a_token_over_an_email_unsubscribes_it(client, org):
    url = signed({"o": org.pk, "e": "Ada@Example.com"})
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 200
    entry = BlocklistEntry.objects.get(organization=org)
    assert (entry.recipient, entry.type, entry.reason) == ("ada@example.com", "email", "stop")
