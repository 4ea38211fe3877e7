"""A blast sent through the real twilio and sendgrid SDKs (to loopback stubs), then what the
providers and recipients say back, replayed over HTTP with the providers' own signatures:
duplicates, out of order, forged; inbound STOP, START, HELP and a reply. The logs, the stats
and the blocklist must tell the story."""

import uuid

import pytest

from logs.models import Delivery
from subscribers.models import BlocklistEntry
from tests import signing
from tests.signing import HOOKS_BASE_URL, new_sendgrid_key, sendgrid_post
from tests.stubs import run_in_thread
from tests.stubs.channels import FROM_NUMBER, channels_to
from tests.stubs.sendgrid_stub import SendGridStub
from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TwilioStub
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


@pytest.fixture
def providers():
    with (
        run_in_thread(TwilioStub) as (twilio_url, twilio),
        run_in_thread(SendGridStub) as (sendgrid_url, sendgrid),
        channels_to(twilio_url=twilio_url, sendgrid_url=sendgrid_url),
    ):
        yield twilio, sendgrid


def twilio_post(client, url: str, params: dict, token: str = TEST_AUTH_TOKEN):
    return signing.twilio_post(client, url, params, token)


def status(client, send: dict, value: str, **extra):
    params = {"MessageSid": send["sid"], "MessageStatus": value, "AccountSid": TEST_ACCOUNT_SID,
              "From": FROM_NUMBER, "To": send["to"], **extra}  # fmt: skip
    return twilio_post(client, send["status_callback"], params)


def inbound(client, sender: str, body: str, sid: str):
    params = {"MessageSid": sid, "From": sender, "To": FROM_NUMBER, "Body": body, "AccountSid": TEST_ACCOUNT_SID}
    return twilio_post(client, f"{HOOKS_BASE_URL}/hooks/twilio/inbound", params)


def email_events(client, events: list[dict], key=signing.SENDGRID_KEY):
    return sendgrid_post(client, events, key=key)


def test_a_blast_then_its_callbacks_replies_and_opt_outs(api, org, audience, providers, run_jobs, client):
    twilio, sendgrid = providers
    org.help_text = "Acme School: call 555-0100."
    org.save()
    response = run_jobs(api.post, "/api/v1/blasts", {"types": ["sms", "email"], "groups": [1], "dnc": [3],
                                                     "message": "Hi {first|there}", "subject": "News"})  # fmt: skip
    assert response.status_code == 200, response.content
    message_id = response.json()["id"]
    texts = {s["to"]: s for s in twilio.sends}
    mails = {s["to"]: s for s in sendgrid.sends}
    assert set(texts) == {"+12025550101", "+12025550102", "+12025550103"}
    assert set(mails) == {"ada@example.com", "bob@example.com", "dee@example.com"}
    ada, bob, cy = texts["+12025550101"], texts["+12025550102"], texts["+12025550103"]

    # Twilio: delivered, then a late "sent" (out of order), a duplicate, a failure, a forgery.
    assert status(client, ada, "delivered").status_code == 204
    assert status(client, ada, "sent").status_code == 204
    assert status(client, ada, "delivered").status_code == 204
    assert status(client, bob, "undelivered", ErrorCode="30003").status_code == 204
    with nothing_written(Delivery, BlocklistEntry):
        forged = twilio_post(client, cy["status_callback"], {"MessageSid": cy["sid"], "MessageStatus": "failed"},
                             token="not-our-token")  # fmt: skip
    assert forged.status_code == 403
    # SendGrid: delivered, a bounce (blocklisted), a spam report (blocklisted), a click; a forged batch.
    ids = {d.recipient: d.pk for d in Delivery.objects.filter(message_id=message_id, channel="email")}

    run = uuid.uuid4().hex  # event ids are remembered (Redis) across test runs

    def event(to, kind, **fields):
        return {"email": to, "timestamp": 1_760_000_000, "event": kind, "sg_event_id": f"{run}-{to}-{kind}",
                "sg_message_id": f"{mails[to]['message_id']}.x", "delivery_id": str(ids[to]), **fields}  # fmt: skip

    batch = [event("ada@example.com", "delivered"), event("ada@example.com", "click", url="https://acme.test"),
             event("bob@example.com", "bounce", reason="550 no such user", status="5.1.1"),
             event("dee@example.com", "delivered"), event("dee@example.com", "spamreport")]  # fmt: skip
    assert email_events(client, batch).status_code == 204
    assert email_events(client, batch).status_code == 204  # SendGrid retries whole batches
    with nothing_written(Delivery, BlocklistEntry):  # a bounce would block ada
        forged = email_events(client, [event("dee@example.com", "bounce"), event("ada@example.com", "bounce")],
                              key=new_sendgrid_key())  # fmt: skip
    assert forged.status_code == 403

    # Inbound: a reply, STOP from cy, HELP from ada, then START from cy.
    assert inbound(client, "+12025550103", "Is school open tomorrow?", "SMreply1").status_code == 200
    assert inbound(client, "(202) 555-0103", "STOP", "SMstop1").status_code == 200
    subscribers = {s["phone"]: s for s in api.get("/api/v1/subscribers", {"limit": 100}).json()}
    assert subscribers["+12025550103"]["phoneBlocked"] == 1
    help_answer = inbound(client, "+12025550101", "help", "SMhelp1")
    assert "Acme School: call 555-0100." in help_answer.content.decode()
    blocklist = {e["recipient"]: e["reason"] for e in api.get("/api/v1/blocklist").json()}
    assert blocklist == {"+12025550103": "stop", "bob@example.com": "bounce", "dee@example.com": "complaint"}
    assert inbound(client, "+12025550103", "start", "SMstart1").status_code == 200
    assert "+12025550103" not in {e["recipient"] for e in api.get("/api/v1/blocklist").json()}

    rows = {(r["channel"], r["recipient"]): r for r in api.get(f"/api/v1/logs/{message_id}",
                                                               {"getClicks": "true"}).json()}  # fmt: skip
    assert rows[("sms", "+12025550101")]["status"] == "delivered" and rows[("sms", "+12025550101")]["deliveredAt"]
    assert rows[("sms", "+12025550102")]["status"] == "failed" and rows[("sms", "+12025550102")]["errorCode"] == "30003"
    assert rows[("sms", "+12025550103")]["status"] == "sent"  # the forged "failed" changed nothing
    assert rows[("sms", "+12025550103")]["reply"] == "Is school open tomorrow?"
    assert rows[("email", "ada@example.com")]["clicks"] == 1  # the retried batch did not count it twice
    assert rows[("email", "bob@example.com")]["status"] == "failed"
    stats = api.get(f"/api/v1/logs/{message_id}/stats").json()
    assert stats["statuses"] == {"queued": 0, "sending": 0, "sent": 1, "delivered": 3, "failed": 2, "canceled": 0,
                                 "clicked": 1}  # fmt: skip
    assert {e["code"] for e in stats["errors"]} == {"30003", rows[("email", "bob@example.com")]["errorCode"]}
    assert stats["clicks"] == 1
    summary = api.get("/api/v1/logs").json()[0]
    assert (summary["id"], summary["delivered"], summary["failed"], summary["sent"]) == (message_id, 3, 2, 1)
