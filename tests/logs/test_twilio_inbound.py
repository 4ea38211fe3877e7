"""POST /hooks/twilio/inbound: STOP/START/HELP keywords and replies, Twilio-signed."""

import datetime as dt

import pytest
from django.utils import timezone

from logs.models import Delivery, Reply
from subscribers.models import BlocklistEntry
from subscribers.services import blocklist_add
from tests.factories import DeliveryFactory, OrganizationFactory, SubscriberFactory
from tests.writes import nothing_written

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio")]

PATH = "/hooks/twilio/inbound"
ADA = "+12025550101"
OUR_NUMBER = "+15005550006"


def texted(org, recipient=ADA, *, channel="sms", minutes_ago=10) -> Delivery:
    """A text `org` sent to `recipient` that many minutes ago."""
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return DeliveryFactory(message__organization=org, message__types=[channel], message__fanned_out_at=at,
                           channel=channel, recipient=recipient, status="delivered", sent_at=at)  # fmt: skip


@pytest.fixture
def ada(org):
    """Ada, a subscriber of `org`, which texted her ten minutes ago."""
    subscriber = SubscriberFactory(organization=org, first="Ada", phone=ADA)
    texted(org)
    return subscriber


_sids = iter(range(1, 10**6))


def inbound(twilio, body, *, sender=ADA, sid=None, token=None, to=OUR_NUMBER, service=None):
    params = {"MessageSid": sid or f"SM{next(_sids):032d}", "AccountSid": "AC" + "0" * 32, "From": sender,
              "To": to, "Body": body, "NumMedia": "0"}  # fmt: skip
    if service:
        params["MessagingServiceSid"] = service
    return twilio.post(PATH, params, token=token)


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
def test_stop_words_block_the_number(twilio, api, ada, word):
    assert phone_blocked(api) == 0
    response = inbound(twilio, word)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    assert "<Message>" not in response.content.decode()  # Twilio confirms opt-outs itself
    assert phone_blocked(api) == 1
    assert blocklist(api) == {ADA: "stop"}
    assert not Reply.objects.exists()


def test_stop_blocks_in_every_organization_that_texts_the_number(twilio, org, other_org):
    third = OrganizationFactory(name="Initech")
    texted(org)
    texted(other_org, channel="mms")
    texted(third, "+12025550199")
    inbound(twilio, "STOP")
    inbound(twilio, "STOP")  # again: nothing more
    rows = BlocklistEntry.objects.filter(recipient=ADA).values_list("organization_id", "reason")
    assert sorted(rows) == sorted([(org.pk, "stop"), (other_org.pk, "stop")])


def test_stop_from_a_subscriber_never_texted_yet_blocks_the_number_in_its_organization(twilio, api, org, other_org):
    SubscriberFactory(organization=org, first="Ada", phone=ADA)
    assert phone_blocked(api) == 0
    inbound(twilio, "Stop")
    assert phone_blocked(api) == 1
    assert list(BlocklistEntry.objects.values_list("organization_id", "reason")) == [(org.pk, "stop")]
    inbound(twilio, "start")
    assert phone_blocked(api) == 0
    org.help_text = "Acme: call 555-0100."
    org.save()
    assert "Acme: call 555-0100." in inbound(twilio, "HELP").content.decode()


def test_start_lifts_the_stop(twilio, api, ada):
    inbound(twilio, "STOP")
    assert phone_blocked(api) == 1
    for word in ("start", "UNSTOP", " yes "):
        inbound(twilio, "STOP")
        assert inbound(twilio, word).status_code == 200
        assert phone_blocked(api) == 0 and blocklist(api) == {}


def test_stop_outranks_a_manual_block_and_start_falls_back_to_it(twilio, api, org, ada):
    blocklist_add(organization=org, recipient=ADA)
    inbound(twilio, "STOP")  # the recipient's own opt-out: no longer removable through the API
    assert blocklist(api) == {ADA: "stop"}
    with nothing_written(BlocklistEntry):
        assert api.delete("/api/v1/blocklist", {"recipient": ADA}).status_code == 400
    inbound(twilio, "START")  # lifts the opt-out, not the manual block under it
    assert phone_blocked(api) == 1 and blocklist(api) == {ADA: "manual"}
    assert api.delete("/api/v1/blocklist", {"recipient": ADA}).status_code == 204


def test_a_manual_block_of_an_opted_out_number_outlives_start(twilio, api, ada):
    inbound(twilio, "STOP")
    assert api.post("/api/v1/blocklist", {"recipient": ADA}).json()["reason"] == "stop"
    inbound(twilio, "START")
    assert phone_blocked(api) == 1 and blocklist(api) == {ADA: "manual"}


def test_help_answers_with_the_organizations_help_text(twilio, org):
    org.help_text = "Acme alerts <school>: call 555-0100. Reply STOP to end."
    org.save()
    texted(org)
    body = inbound(twilio, " help ").content.decode()
    assert "<Message>Acme alerts &lt;school&gt;: call 555-0100. Reply STOP to end.</Message>" in body
    assert not Reply.objects.exists()


def test_help_has_a_default_text(twilio, org):
    texted(org)
    body = inbound(twilio, "HELP").content.decode()
    assert "<Message>Acme: reply STOP to unsubscribe" in body
    assert "<Message>Connext: reply STOP" in inbound(twilio, "HELP", sender="+12025550177").content.decode()


def test_a_reply_is_stored_once_on_the_last_text_sent_to_the_number(twilio, org, other_org):
    texted(org, minutes_ago=60)
    last = texted(other_org, minutes_ago=5)
    texted(org, channel="voice", minutes_ago=1)  # a call is not what a text answers
    response = inbound(twilio, "See you at 3", sid="SM" + "r" * 32)
    assert response.status_code == 200
    assert response.content.decode().endswith("<Response />")
    assert inbound(twilio, "See you at 3", sid="SM" + "r" * 32).status_code == 200  # Twilio retried
    reply = Reply.objects.get()
    assert (reply.delivery_id, reply.organization_id, reply.body) == (last.pk, other_org.pk, "See you at 3")
    assert (reply.from_number, reply.to_number) == (ADA, OUR_NUMBER)


def test_a_keyword_inside_a_sentence_is_a_reply(twilio, org):
    texted(org)
    inbound(twilio, "Please stop texting me on Sundays")
    assert not BlocklistEntry.objects.exists()
    assert Reply.objects.get().body == "Please stop texting me on Sundays"


def test_a_formatted_sender_is_matched_as_e164(twilio, org):
    d = texted(org)
    inbound(twilio, "Thanks", sender="+1 (202) 555-0101")
    assert Reply.objects.get().delivery_id == d.pk


def test_a_reply_from_a_number_never_texted_is_not_stored(twilio, org):
    texted(org)
    assert inbound(twilio, "Who is this?", sender="+12025550177").status_code == 200
    assert not Reply.objects.exists()


def test_bad_or_missing_signature_is_403_and_changes_nothing(client, twilio, org):
    texted(org)
    with nothing_written(BlocklistEntry, Reply, Delivery):
        assert client.post(PATH, {"MessageSid": "SM1", "From": ADA, "Body": "STOP"}).status_code == 403
        forged = inbound(twilio, "STOP", token="not-the-token")
        assert forged.status_code == 403 and forged.json()["message"]
        assert inbound(twilio, "hello", token="not-the-token").status_code == 403


def test_trailing_slash(client, twilio, org):
    texted(org)
    params = {"MessageSid": "SM" + "t" * 32, "From": ADA, "To": OUR_NUMBER, "Body": "STOP"}
    signature = twilio.signature(PATH + "/", params)
    assert client.post(PATH + "/", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    assert BlocklistEntry.objects.filter(recipient=ADA, reason="stop").exists()
