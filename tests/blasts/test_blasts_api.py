"""POST /blasts, /blasts/test and /blasts/estimate over HTTP, on the console channel, with the
fan-out and dispatch tasks run in process after the request commits."""

import datetime as dt
import re

import pytest
from django.test import override_settings
from django.utils import timezone

from blasts.models import ConsoleSend
from connext import roles
from logs.models import Click, Delivery, Message
from subscribers.models import BlocklistEntry
from tests.conftest import ApiClient
from tests.factories import BlocklistEntryFactory, DeliveryFactory, MessageFactory, UserFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

BLASTS = "/api/v1/blasts"
BLAST_ROWS = (Message, Delivery, ConsoleSend)  # what a blast writes


def sends(**filters) -> dict[str, ConsoleSend]:
    return {s.to: s for s in ConsoleSend.objects.filter(**filters)}


def test_sms_blast_reaches_the_group_minus_disabled_landlines_dnc_and_blocked(api, audience, run_jobs):
    BlocklistEntryFactory(organization=audience["bob"].organization, recipient="+12025550102")
    response = run_jobs(api.post, BLASTS, {"types": ["sms"], "groups": [1], "dnc": [3], "message": "Hi {first|there}!"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["recipients"] == 2 and isinstance(body["id"], int) and body["message"]
    out = sends(channel="sms")
    assert set(out) == {"+12025550101", "+12025550103"}  # ada; cy; not bob (blocked), eve, off, dnc, outsider
    assert out["+12025550101"].body == "Hi Ada!"
    assert out["+12025550103"].body == "Hi there!"
    statuses = set(Delivery.objects.filter(message_id=body["id"]).values_list("status", flat=True))
    assert statuses == {"delivered"}  # the console reports sent, then delivered


def test_a_blocklisted_email_gets_no_email_and_a_blocklisted_phone_no_text(api, audience, run_jobs):
    """The blocklist at fan-out, per channel: an email address or a phone, entered as a person types it."""
    assert api.post("/api/v1/blocklist", {"recipient": " Bob@Example.COM "}).status_code == 201
    assert api.post("/api/v1/blocklist", {"recipient": "(202) 555-0101"}).status_code == 201
    response = run_jobs(api.post, BLASTS, {"types": ["sms", "email"], "groups": [1], "message": "Hi",
                                           "subject": "News"})  # fmt: skip
    assert response.status_code == 200, response.content
    rows = set(Delivery.objects.filter(message_id=response.json()["id"]).values_list("channel", "recipient"))
    # group 1, enabled: emails of ada bob dee dnc, texting phones of ada bob cy dnc; minus the two blocked
    assert {r for c, r in rows if c == "email"} == {"ada@example.com", "dee@example.com", "dnc@example.com"}
    assert {r for c, r in rows if c == "sms"} == {"+12025550102", "+12025550103", "+12025550107"}
    assert response.json()["recipients"] == len(rows) == Message.objects.get().recipients
    assert set(sends(channel="email")) == {"ada@example.com", "dee@example.com", "dnc@example.com"}


def test_a_subscriber_in_two_groups_gets_one_send_per_channel(api, audience, run_jobs):
    response = run_jobs(api.post, BLASTS, {"types": ["sms", "email"], "groups": [1, 2], "message": "x",
                                           "subject": "Hello {first}"})  # fmt: skip
    assert response.status_code == 200, response.content
    rows = list(Delivery.objects.filter(message_id=response.json()["id"]).values_list("channel", "recipient"))
    assert len(rows) == len(set(rows))
    assert ("sms", "+12025550101") in rows and ("email", "ada@example.com") in rows
    assert ("email", "out@example.com") in rows  # group 2
    assert sends(channel="email")["ada@example.com"].subject == "Hello Ada"
    assert response.json()["recipients"] == len(rows)


def test_all_four_channels_and_voice_fallback(api, audience, run_jobs):
    response = run_jobs(api.post, BLASTS, {
        "types": ["sms", "email", "audio"], "groups": [1], "message": "Snow day",
        "subject": "Closed", "media": [{"url": "https://cdn.example.com/closed.mp3", "type": "audio/mpeg"}],
    })  # fmt: skip
    assert response.status_code == 200, response.content
    channels = {(d.channel, d.recipient) for d in Delivery.objects.filter(message_id=response.json()["id"])}
    # sms+media is an mms; audio calls every phone (eve's landline included)
    assert ("mms", "+12025550101") in channels and ("voice", "+12025550105") in channels
    assert ("email", "dee@example.com") in channels
    assert sends(channel="mms")["+12025550101"].media == ["https://cdn.example.com/closed.mp3"]


def test_voice_fallback_calls_the_phones_that_take_no_texts(api, audience, run_jobs):
    response = run_jobs(api.post, BLASTS, {"types": ["sms"], "groups": [1], "message": "Hi", "voiceFallback": True})
    rows = set(Delivery.objects.filter(message_id=response.json()["id"]).values_list("channel", "recipient"))
    assert ("voice", "+12025550105") in rows  # eve: text=0
    assert ("voice", "+12025550101") not in rows  # ada takes texts: no call


def test_blast_returns_before_the_fanout(api, audience):
    # The request's transaction is the test's: its after-commit fan-out never starts.
    response = api.post(BLASTS, {"types": ["sms"], "groups": [1], "message": "Hi"})
    assert response.status_code == 200
    message = Message.objects.get(pk=response.json()["id"])
    assert message.fanned_out_at is None and message.recipients == response.json()["recipients"] == 4


def test_external_id_is_processed_once(api, audience, run_jobs):
    payload = {"types": ["sms"], "groups": [1], "message": "Hi", "externalId": "crm-42"}
    first = run_jobs(api.post, BLASTS, payload)
    assert first.status_code == 200
    with nothing_written(*BLAST_ROWS):
        again = run_jobs(api.post, BLASTS, payload)
    assert again.status_code == 409
    assert again.json() == {"message": "External ID already processed", "id": first.json()["id"]}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"groups": [1], "message": "x"}, "types"),
        ({"types": [], "groups": [1], "message": "x"}, "types"),
        ({"types": ["fax"], "groups": [1], "message": "x"}, "types"),
        ({"types": ["sms"], "message": "x"}, "groups"),
        ({"types": ["sms"], "groups": [99], "message": "x"}, "groups"),
        ({"types": ["sms"], "groups": ["1"], "message": "x"}, "groups"),
        ({"types": ["sms"], "groups": [1], "dnc": [42], "message": "x"}, "dnc"),
        ({"types": ["sms"], "groups": [1]}, "message"),
        ({"types": ["sms"], "groups": [1], "message": "Hi {frist}"}, "message"),
        ({"types": ["email"], "groups": [1], "message": "x"}, "subject"),
        ({"types": ["email"], "groups": [1], "message": "x", "subject": "Hi\r\nBcc: eve@example.com"}, "subject"),
        ({"types": ["mms"], "groups": [1], "message": "x"}, "media"),
        ({"types": ["audio"], "groups": [1]}, "media"),
        ({"types": ["sms"], "groups": [1], "message": "x", "media": [{"url": "ftp://x/y.png"}]}, "media"),
        ({"types": ["sms"], "groups": [1], "message": "x", "media": ["https://x/y.png"]}, "media"),
        ({"types": ["sms"], "groups": [1], "message": "x", "media": [{"url": "http://[::1"}]}, "media.0.url"),
        ({"types": ["sms"], "groups": [1], "message": "x", "ivr": True}, "ivr"),
        ({"types": ["sms"], "groups": [1], "message": "x", "shortenLinks": "yes"}, "shortenLinks"),
        ({"types": ["sms"], "groups": [1], "message": "x" * 1601}, "message"),
        ({"types": ["sms"], "groups": [1], "message": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_blasts_are_400_naming_the_field(api, audience, run_jobs, payload, field):
    with nothing_written(*BLAST_ROWS):
        response = run_jobs(api.post, BLASTS, payload)
    assert response.status_code == 400, response.content
    assert response.json()["message"].startswith(f"{field}"), response.json()


def test_another_organizations_group_number_is_unknown(api, other_api, audience):
    with nothing_written(*BLAST_ROWS):
        response = other_api.post(BLASTS, {"types": ["sms"], "groups": [1], "message": "x"})
    assert response.status_code == 400 and response.json()["message"].startswith("groups")


def test_roles_and_send_only_keys(org, audience, client_for):
    viewer = client_for(UserFactory(organization=org, email="v@acme.test", role=roles.VIEWER))
    send_only = client_for(UserFactory(organization=org, email="s@acme.test", role=roles.SENDER), scope="send")
    blast = {"types": ["sms"], "groups": [1], "message": "x"}
    with nothing_written(*BLAST_ROWS):
        assert viewer.post(BLASTS, blast).status_code == 403
        assert send_only.post(f"{BLASTS}/estimate", {**blast, "hasMedia": False}).status_code == 403
        assert ApiClient().post(BLASTS, blast).status_code == 401
    assert send_only.post(BLASTS, blast).status_code == 200


def test_trailing_slash_works_without_redirect(api, audience):
    assert api.post(f"{BLASTS}/", {"types": ["sms"], "groups": [1], "message": "x"}).status_code == 200


# --- links -------------------------------------------------------------------------


@override_settings(PUBLIC_BASE_URL="https://cnxt.example")
def test_shortened_links_redirect_and_count_clicks_per_delivery(api, audience, run_jobs, client):
    response = run_jobs(api.post, BLASTS, {"types": ["sms"], "groups": [1], "shortenLinks": True,
                                           "message": "Menu: https://school.example/menu?week=2. Bye"})  # fmt: skip
    text = sends()["+12025550101"].body
    match = re.search(r"https://cnxt\.example/l/([A-Za-z0-9]+)", text)
    assert match and text.endswith(". Bye"), text
    assert sends()["+12025550103"].body != text  # one link per delivery
    redirect = client.get(f"/l/{match.group(1)}")
    assert redirect.status_code == 302 and redirect["Location"] == "https://school.example/menu?week=2"
    checked = client.head(f"/l/{match.group(1)}")  # a link checker: answered, not a click
    assert checked.status_code == 302 and checked["Location"] == "https://school.example/menu?week=2"
    delivery = Delivery.objects.get(message_id=response.json()["id"], recipient="+12025550101")
    assert delivery.clicks == 1 and Click.objects.filter(delivery=delivery).count() == 1
    assert client.get("/l/nope1234").status_code == 404


def test_links_stay_as_written_without_shorten_links(api, audience, run_jobs):
    run_jobs(api.post, BLASTS, {"types": ["sms"], "groups": [1], "message": "See https://school.example/a"})
    assert sends()["+12025550101"].body == "See https://school.example/a"


# --- test sends -----------------------------------------------------------------------


def test_test_send_goes_to_the_callers_own_phone_and_email_only(org, audience, client_for, run_jobs):
    me = UserFactory(organization=org, email="Me@Acme.test", phone="+12025550199")
    me.first_name = "Grace"
    me.save()
    response = run_jobs(client_for(me).post, f"{BLASTS}/test", {"types": ["sms", "email"], "groups": [1],
                                                                "message": "Hi {first}", "subject": "S"})  # fmt: skip
    assert response.status_code == 200, response.content
    assert set(sends()) == {"+12025550199", "me@acme.test"}
    assert sends()["+12025550199"].body == "Hi Grace"
    assert response.json()["recipients"] == 2


def test_test_send_without_a_phone_is_400(api, audience):
    with nothing_written(*BLAST_ROWS):
        response = api.post(f"{BLASTS}/test", {"types": ["sms"], "message": "x"})
    assert response.status_code == 400
    assert response.json()["message"] == "types: Your user has no phone number to send the sms test to."


# --- estimate --------------------------------------------------------------------------


@override_settings(PRICE_SMS=0.01, PRICE_EMAIL=0.001, PRICE_CURRENCY="USD")
def test_estimate_counts_recipients_segments_and_cost(api, audience):
    with nothing_written(*BLAST_ROWS):  # an estimate only counts
        response = api.post(f"{BLASTS}/estimate", {"types": ["sms", "email"], "groups": [1], "dnc": [3],
                                                    "message": "ç" * 71, "hasMedia": False})  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["recipients"] == {"sms": 3, "email": 3}  # sms: ada bob cy; email: ada bob dee
    assert body["encoding"] == "UCS-2" and body["segments"] == 2
    assert body["cost"] == {"sms": 0.06, "email": 0.003}
    assert body["total"] == pytest.approx(0.063) and body["currency"] == "USD"


@override_settings(PRICE_MMS=0.02, PRICE_VOICE=0.05)
def test_estimate_is_per_requested_type_and_prices_sms_with_media_as_mms(api, audience):
    body = api.post(f"{BLASTS}/estimate", {"types": ["sms", "voice", "audio"], "groups": [1], "message": "x",
                                           "hasMedia": True}).json()  # fmt: skip
    assert body["recipients"] == {"sms": 4, "voice": 5, "audio": 5}  # one call per phone for voice and audio
    assert body["cost"] == {"sms": 0.08, "voice": 0.25, "audio": 0.25}
    assert body["total"] == pytest.approx(0.33) and body["totalRecipients"] == 9


def test_estimate_needs_has_media(api, audience):
    with nothing_written(*BLAST_ROWS):
        response = api.post(f"{BLASTS}/estimate", {"types": ["sms"], "groups": [1]})
    assert response.status_code == 400 and response.json()["message"].startswith("hasMedia")


# --- unsubscribe ----------------------------------------------------------------------


def test_email_unsubscribe_link_blocklists_the_address(api, audience, run_jobs, client):
    run_jobs(api.post, BLASTS, {"types": ["email"], "groups": [1], "message": "News", "subject": "S"})
    body = sends()["ada@example.com"].body  # the console shows the footer the email carries
    url = re.search(r"Unsubscribe: (\S+)$", body).group(1)
    path = url.split("://", 1)[1].split("/", 1)[1]
    page = client.get(f"/{path}")  # what a mail scanner fetches too: it only asks
    assert page.status_code == 200 and b'<form method="post">' in page.content
    assert client.head(f"/{path}").status_code == 200
    assert not BlocklistEntry.objects.exists()
    assert client.post(f"/{path}").status_code == 200  # the page's button
    entry = BlocklistEntry.objects.get(recipient="ada@example.com")
    assert entry.reason == "stop"
    one_click = client.post(f"/{path}", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert one_click.status_code == 200  # RFC 8058, after the button: still one entry
    assert BlocklistEntry.objects.filter(recipient="ada@example.com").count() == 1
    assert api.get("/api/v1/subscribers", {"keyword": "ada@example.com"}).json()[0]["emailBlocked"] == 1
    assert client.get("/u/forged-token").status_code == 404


def test_a_dispatcher_sends_nothing_of_a_canceled_message(api, audience):
    from blasts.dispatch import dispatch
    from blasts.fanout import fanout

    message_id = api.post(BLASTS, {"types": ["sms"], "groups": [1], "message": "Hi"}).json()["id"]
    fanout(message_id)  # rows queued; then a cancel raced a retry and one row is queued again
    Message.objects.filter(pk=message_id).update(canceled_at=timezone.now())
    assert dispatch(message_id) == "done"
    assert set(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True)) == {"canceled"}
    assert not ConsoleSend.objects.exists()


def test_the_sweeper_delivers_console_receipts_a_dead_worker_took_with_it(org):
    from blasts.sweeper import sweep

    message = MessageFactory(organization=org)

    def sent(recipient, at):
        return DeliveryFactory(message=message, recipient=recipient, status="sent", provider="console", sent_at=at)

    overdue = sent("+12025550101", timezone.now() - dt.timedelta(hours=1))
    just_sent = sent("+12025550102", timezone.now())
    assert sweep()["console_receipts"] == 1
    overdue.refresh_from_db()
    just_sent.refresh_from_db()
    assert (overdue.status, just_sent.status) == ("delivered", "sent")
