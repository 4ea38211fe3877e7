"""A rendered subject is one header line: merge fields holding CR/LF or other control characters
(`first = "Ann\\r\\nBcc: x@evil"`) become spaces when the subject is rendered
(blasts/outgoing.py), so no recipient's data can add a header to an email. Through whole
blasts: on the console channel, and through the sendgrid SDK to the loopback SendGrid stub."""

import pytest

from blasts.models import ConsoleSend
from tests.factories import GroupFactory, SubscriberFactory
from tests.stubs import run_in_thread
from tests.stubs.channels import channels_to
from tests.stubs.sendgrid_stub import SendGridStub

pytestmark = pytest.mark.django_db

BLASTS = "/api/v1/blasts"
INJECTION = "Ann\r\nBcc: x@evil"

NAMES = {
    "CRLF and a header": (INJECTION, "Hi Ann Bcc: x@evil"),
    "a bare LF": ("Ann\nBcc: x@evil", "Hi Ann Bcc: x@evil"),
    "a bare CR": ("Ann\rX-Evil: 1", "Hi Ann X-Evil: 1"),
    "CRLF and a folded line": ("Ann\r\n\tmore", "Hi Ann more"),
    "tab, escape, DEL": ("A\tn\x1bn\x7f!", "Hi A n n !"),
    "NEL and the Unicode separators": ("Ann\x85Bcc\u2028x\u2029y", "Hi Ann Bcc x y"),
    "nothing to strip": ("Zoë O'Brien", "Hi Zoë O'Brien"),
}


@pytest.fixture
def group(org):
    return GroupFactory(organization=org, number=1)


def blast(api, run_jobs, **fields):
    response = run_jobs(api.post, BLASTS, {"types": ["email"], "groups": [1], "message": "Dear {first},\nnews.",
                                           "subject": "Hi {first}", **fields})  # fmt: skip
    assert response.status_code == 200, response.content
    return response


@pytest.mark.parametrize(("first", "subject"), NAMES.values(), ids=NAMES.keys())
def test_the_console_outbox_shows_a_one_line_subject(api, org, group, run_jobs, first, subject):
    SubscriberFactory(organization=org, first=first, email="ann@example.com", groups=[group])
    blast(api, run_jobs)
    [send] = ConsoleSend.objects.filter(to="ann@example.com")
    assert send.subject == subject
    assert send.body.startswith(f"Dear {first},\nnews.")  # the body is no header: as written


def test_a_name_of_only_line_breaks_is_blank_and_gets_the_fallback(api, org, group, run_jobs):
    SubscriberFactory(organization=org, first="\r\n", last="O'Brien", email="ann@example.com", groups=[group])
    blast(api, run_jobs, subject="News for {first|you} {last|and family}")
    assert ConsoleSend.objects.get(to="ann@example.com").subject == "News for you O'Brien"


@pytest.fixture
def sendgrid():
    with run_in_thread(SendGridStub) as (base_url, stub), channels_to(sendgrid_url=base_url):
        yield stub


def test_sendgrid_gets_a_one_line_subject(api, org, group, run_jobs, sendgrid):
    SubscriberFactory(organization=org, first=INJECTION, email="ann@example.com", groups=[group])
    blast(api, run_jobs)
    [mail] = sendgrid.sends
    assert mail["recipients"] == ["ann@example.com"]
    assert mail["subject"] == "Hi Ann Bcc: x@evil"
    assert "Bcc" not in mail["headers"] and set(mail["headers"]) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert not ConsoleSend.objects.exists()
