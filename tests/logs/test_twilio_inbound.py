"""POST /hooks/twilio/inbound: STOP/START/HELP keywords and replies, Twilio-signed."""

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from logs.models import Delivery, Message, Reply
from subscribers.models import BlocklistEntry, Subscriber
from subscribers.services import blocklist_add
from tests.signing import twilio_post, twilio_signature

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio_settings")]

TOKEN = "inbound-hook-token"
BASE = "https://cnxt.example"
PATH = "/hooks/twilio/inbound"
ADA = "+12025550101"
OUR_NUMBER = "+15005550006"


@pytest.fixture
def twilio_settings():
    with override_settings(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=BASE):
        yield


def texted(org, recipient=ADA, *, channel="sms", minutes_ago=10):
    """A text `org` sent to `recipient` that many minutes ago."""
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    msg = Message.objects.create(organization=org, types=[channel], message="Hi", fanned_out_at=at)
    return Delivery.objects.create(message=msg, channel=channel, recipient=recipient, status="delivered", sent_at=at)


_sids = iter(range(1, 10**6))


def inbound(client, body, *, sender=ADA, sid=None, token=TOKEN):
    params = {"MessageSid": sid or f"SM{next(_sids):032d}", "AccountSid": "AC" + "0" * 32, "From": sender,
              "To": OUR_NUMBER, "Body": body, "NumMedia": "0"}  # fmt: skip
    return twilio_post(client, BASE + PATH, params, token)


def phone_blocked(api, phone=ADA) -> int:
    rows = api.get("/api/v1/subscribers", {"keyword": phone}).json()
    assert len(rows) == 1, rows
    return rows[0]["phoneBlocked"]


def blocklist(api) -> dict[str, str]:
    return {row["recipient"]: row["reason"] for row in api.get("/api/v1/blocklist").json()}


@pytest.mark.parametrize(
    "word",
    ["STOP", "stop", "  Stop \n", "Stop.", "STOP!!", '"stop"', "STOPALL", "unsubscribe", "Cancel", "END", "quit"],
)
def test_stop_words_block_the_number(client, api, org, word):
    Subscriber.objects.create(organization=org, first="Ada", phone=ADA)
    texted(org)
    assert phone_blocked(api) == 0
    response = inbound(client, word)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    assert "<Message>" not in response.content.decode()  # Twilio confirms opt-outs itself
    assert phone_blocked(api) == 1
    assert blocklist(api) == {ADA: "stop"}
    assert not Reply.objects.exists()


def test_stop_blocks_in_every_organization_that_texts_the_number(client, org, other_org):
    third = type(org).objects.create(name="Initech")
    texted(org)
    texted(other_org, channel="mms")
    texted(third, "+12025550199")
    inbound(client, "STOP")
    inbound(client, "STOP")  # again: nothing more
    rows = BlocklistEntry.objects.filter(recipient=ADA).values_list("organization_id", "reason")
    assert sorted(rows) == sorted([(org.pk, "stop"), (other_org.pk, "stop")])


def test_stop_from_a_subscriber_never_texted_yet_blocks_the_number_in_its_organization(client, api, org, other_org):
    Subscriber.objects.create(organization=org, first="Ada", phone=ADA)
    assert phone_blocked(api) == 0
    inbound(client, "Stop")
    assert phone_blocked(api) == 1
    assert list(BlocklistEntry.objects.values_list("organization_id", "reason")) == [(org.pk, "stop")]
    inbound(client, "start")
    assert phone_blocked(api) == 0
    org.help_text = "Acme: call 555-0100."
    org.save()
    assert "Acme: call 555-0100." in inbound(client, "HELP").content.decode()


def test_start_lifts_the_stop(client, api, org):
    Subscriber.objects.create(organization=org, first="Ada", phone=ADA)
    texted(org)
    inbound(client, "STOP")
    assert phone_blocked(api) == 1
    for word in ("start", "UNSTOP", " yes "):
        inbound(client, "STOP")
        assert inbound(client, word).status_code == 200
        assert phone_blocked(api) == 0 and blocklist(api) == {}


def test_stop_outranks_a_manual_block_and_start_falls_back_to_it(client, api, org):
    Subscriber.objects.create(organization=org, first="Ada", phone=ADA)
    texted(org)
    blocklist_add(organization=org, recipient=ADA)
    inbound(client, "STOP")  # the recipient's own opt-out: no longer removable through the API
    assert blocklist(api) == {ADA: "stop"}
    assert api.delete("/api/v1/blocklist", {"recipient": ADA}).status_code == 400
    inbound(client, "START")  # lifts the opt-out, not the manual block under it
    assert phone_blocked(api) == 1 and blocklist(api) == {ADA: "manual"}
    assert api.delete("/api/v1/blocklist", {"recipient": ADA}).status_code == 204


def test_a_manual_block_of_an_opted_out_number_outlives_start(client, api, org):
    Subscriber.objects.create(organization=org, first="Ada", phone=ADA)
    texted(org)
    inbound(client, "STOP")
    assert api.post("/api/v1/blocklist", {"recipient": ADA}).json()["reason"] == "stop"
    inbound(client, "START")
    assert phone_blocked(api) == 1 and blocklist(api) == {ADA: "manual"}


def test_help_answers_with_the_organizations_help_text(client, org):
    org.help_text = "Acme alerts <school>: call 555-0100. Reply STOP to end."
    org.save()
    texted(org)
    body = inbound(client, " help ").content.decode()
    assert "<Message>Acme alerts &lt;school&gt;: call 555-0100. Reply STOP to end.</Message>" in body
    assert not Reply.objects.exists()


def test_help_has_a_default_text(client, org):
    texted(org)
    body = inbound(client, "HELP").content.decode()
    assert "<Message>Acme: reply STOP to unsubscribe" in body
    assert "<Message>Connext: reply STOP" in inbound(client, "HELP", sender="+12025550177").content.decode()


def test_a_reply_is_stored_once_on_the_last_text_sent_to_the_number(client, org, other_org):
    texted(org, minutes_ago=60)
    last = texted(other_org, minutes_ago=5)
    texted(org, channel="voice", minutes_ago=1)  # a call is not what a text answers
    response = inbound(client, "See you at 3", sid="SM" + "r" * 32)
    assert response.status_code == 200
    assert response.content.decode().endswith("<Response />")
    assert inbound(client, "See you at 3", sid="SM" + "r" * 32).status_code == 200  # Twilio retried
    reply = Reply.objects.get()
    assert (reply.delivery_id, reply.organization_id, reply.body) == (last.pk, other_org.pk, "See you at 3")
    assert (reply.from_number, reply.to_number) == (ADA, OUR_NUMBER)


def test_a_keyword_inside_a_sentence_is_a_reply(client, org):
    texted(org)
    inbound(client, "Please stop texting me on Sundays")
    assert not BlocklistEntry.objects.exists()
    assert Reply.objects.get().body == "Please stop texting me on Sundays"


def test_a_formatted_sender_is_matched_as_e164(client, org):
    d = texted(org)
    inbound(client, "Thanks", sender="+1 (202) 555-0101")
    assert Reply.objects.get().delivery_id == d.pk


def test_a_reply_from_a_number_never_texted_is_not_stored(client, org):
    texted(org)
    assert inbound(client, "Who is this?", sender="+12025550177").status_code == 200
    assert not Reply.objects.exists()


def test_bad_or_missing_signature_is_403_and_changes_nothing(client, org):
    texted(org)
    assert client.post(PATH, {"MessageSid": "SM1", "From": ADA, "Body": "STOP"}).status_code == 403
    forged = inbound(client, "STOP", token="not-the-token")
    assert forged.status_code == 403 and forged.json()["message"]
    assert inbound(client, "hello", token="not-the-token").status_code == 403
    assert not BlocklistEntry.objects.exists() and not Reply.objects.exists()


def test_trailing_slash(client, org):
    texted(org)
    params = {"MessageSid": "SM" + "t" * 32, "From": ADA, "To": OUR_NUMBER, "Body": "STOP"}
    signature = twilio_signature(BASE + PATH + "/", params, TOKEN)
    assert client.post(PATH + "/", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    assert BlocklistEntry.objects.filter(recipient=ADA, reason="stop").exists()
