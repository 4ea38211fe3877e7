"""WhatsApp and RCS end to end: POST /blasts -> a real Celery worker -> the real twilio SDK -> the
loopback Twilio stub, which calls our hooks back (status callbacks, signed) on a server in this
process running `connext.wsgi.application`. Attributes render in the messages; a segment drives
the RCS blast; a handset without RCS gets the SMS fallback, recorded on its delivery. PostgreSQL
only (the worker shares the test database)."""

import csv
import datetime as dt
import io
import json
import threading
from collections import Counter
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone

from blasts.channels import reset_channels
from connext.wsgi import application
from logs.models import ChannelSession, Delivery
from subscribers import attributes
from tests.conftest import SQLITE
from tests.e2e.test_blast_pipeline import wait_until
from tests.factories import GroupFactory, SubscriberFactory
from tests.stubs import run_in_thread
from tests.stubs.twilio_stub import RCS_AGENT, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TwilioStub

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(SQLITE, reason="a worker process needs a database it can share: PostgreSQL"),
]

WHATSAPP_FROM = "+14155238886"
SERVICE = "MG" + "e" * 32
TEMPLATE = "HX" + "f" * 32


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):  # no access log on the test's output
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _app(environ, start_response):
    try:
        return application(environ, start_response)
    finally:
        connections.close_all()  # this request thread's connection


@pytest.fixture
def hooks_url(settings):
    """Our app on a loopback port, for Twilio's callbacks; the settings that make it trust the stub."""
    server = make_server("127.0.0.1", 0, _app, server_class=_ThreadingServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    settings.PUBLIC_BASE_URL, settings.TWILIO_AUTH_TOKEN = url, TEST_AUTH_TOKEN
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def twilio():
    with run_in_thread(TwilioStub) as (url, stub):
        stub.configure(callbacks=True)
        yield url, stub
    reset_channels()


def chat_env(twilio_url: str, hooks_url: str) -> dict:
    return {
        "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_RCS_MESSAGING_SERVICE_SID": SERVICE,
        "TWILIO_API_BASE_URL": twilio_url,
        "PUBLIC_BASE_URL": hooks_url,
    }


def finished(message_id: int, count: int) -> bool:
    """Every delivery of the message made and reported delivered by Twilio's callbacks."""
    statuses = Counter(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True))
    return statuses == {"delivered": count}


def test_whatsapp_and_rcs_blasts_through_twilio(api, org, twilio, hooks_url, start_worker):
    twilio_url, stub = twilio
    start_worker(**chat_env(twilio_url, hooks_url))
    group = GroupFactory(organization=org, number=1)

    def person(first, phone, **fields):
        return SubscriberFactory(organization=org, first=first, phone=phone, groups=[group], **fields)

    person("Ada", "+12025550101", whatsapp=True, text=True, attributes={"COLOR": "BLACK", "COUNTRY": "DE"})
    person("Bob", "+12025550102", whatsapp=True, text=True, attributes={"COLOR": "RED", "COUNTRY": "DE"})
    person("Cy", "+12025550103", text=True, attributes={"COLOR": "GREEN", "COUNTRY": "FR"})
    attributes.remember(org.pk, ["COLOR", "COUNTRY"])
    # Ada wrote to us on WhatsApp an hour ago: her session window is open.
    ChannelSession.objects.create(channel="whatsapp", address="+12025550101",
                                  last_inbound_at=timezone.now() - dt.timedelta(hours=1))  # fmt: skip

    whatsapp = api.post("/api/v1/blasts", {
        "types": ["whatsapp"], "groups": [1], "message": "Hi {first}, {attr.COLOR|your} is back in stock",
        "contentSid": TEMPLATE, "contentVariables": {"1": "{first|there}", "2": "{attr.COLOR|new}"},
    })  # fmt: skip
    assert whatsapp.status_code == 200, whatsapp.json()
    assert whatsapp.json()["recipients"] == 2  # Cy has not opted in to WhatsApp
    wait_until(lambda: finished(whatsapp.json()["id"], 2))

    sent = {s["to"]: s for s in stub.sends if s["kind"] == "whatsapp"}
    ada, bob = sent["whatsapp:+12025550101"], sent["whatsapp:+12025550102"]
    assert ada["from"] == f"whatsapp:{WHATSAPP_FROM}"
    assert (ada["body"], ada["content_sid"]) == ("Hi Ada, BLACK is back in stock", "")  # free text, in the window
    assert (bob["body"], bob["content_sid"]) == ("", TEMPLATE)  # outside it: the approved template
    assert json.loads(bob["content_variables"]) == {"1": "Bob", "2": "RED"}
    rows = Delivery.objects.filter(message_id=whatsapp.json()["id"])
    assert {(d.channel, d.provider) for d in rows} == {("whatsapp", "twilio_whatsapp")}

    # RCS to a saved segment (Germans), as a rich card; Bob's handset cannot take RCS.
    stub.configure(no_rcs={"+12025550102"}, rcs_services={SERVICE})
    segment = api.post("/api/v1/segments", {"name": "Germans", "where": {"attr.COUNTRY": "DE"}}).json()
    estimate = api.post("/api/v1/blasts/estimate", {"types": ["rcs"], "segment": segment["id"], "hasMedia": 0})
    assert estimate.json()["recipients"] == {"rcs": 2}
    rcs = api.post("/api/v1/blasts", {"types": ["rcs"], "segment": segment["id"], "contentSid": TEMPLATE,
                                      "contentVariables": {"1": "{first}"}})  # fmt: skip
    assert rcs.status_code == 200 and rcs.json()["recipients"] == 2, rcs.json()
    wait_until(lambda: finished(rcs.json()["id"], 2))
    wait_until(lambda: Delivery.objects.filter(message_id=rcs.json()["id"]).exclude(fallback="").exists())

    sent = {s["to"]: s for s in stub.sends if s["messaging_service_sid"] == SERVICE}
    assert sent["+12025550101"]["kind"] == "rcs" and sent["+12025550101"]["from"] == f"rcs:{RCS_AGENT}"
    assert sent["+12025550102"]["kind"] == "sms" and sent["+12025550102"]["fallback"]
    fallbacks = dict(Delivery.objects.filter(message_id=rcs.json()["id"]).values_list("recipient", "fallback"))
    assert fallbacks == {"+12025550101": "", "+12025550102": "sms"}
    stats = api.get(f"/api/v1/logs/{rcs.json()['id']}/stats").json()
    assert stats["fallbacks"] == {"sms": 1} and stats["statuses"]["delivered"] == 2


def test_attributes_imported_by_the_worker_export_and_render_in_a_blast(api, org, twilio, hooks_url, start_worker):
    twilio_url, stub = twilio
    start_worker(**chat_env(twilio_url, hooks_url))
    GroupFactory(organization=org, number=1)
    content = "phone,first,text,COLOR,attr.LOYALTY\n+12025550101,Ada,1,BLACK,gold\n+12025550102,Bob,1,,silver\n"
    upload = SimpleUploadedFile("people.csv", content.encode(), content_type="text/csv")
    job = api.post("/api/v1/subscribers/imports", {"file": upload, "groups": "1"}, format="multipart")
    assert job.status_code == 202, job.json()
    done = wait_until(lambda: (j := api.get(f"/api/v1/subscribers/imports/{job.json()['id']}").json())["status"]
                      in ("done", "failed") and j)  # fmt: skip
    assert (done["status"], done["created"]) == ("done", 2), done

    exported = b"".join(api.get("/api/v1/subscribers/export").streaming_content).decode()
    rows = {r["phone"]: r for r in csv.DictReader(io.StringIO(exported))}
    assert (rows["+12025550101"]["attr.COLOR"], rows["+12025550101"]["attr.LOYALTY"]) == ("BLACK", "gold")
    assert (rows["+12025550102"]["attr.COLOR"], rows["+12025550102"]["attr.LOYALTY"]) == ("", "silver")

    text = "{first}, {attr.COLOR|a} gift for {attr.LOYALTY} members"
    blast = api.post("/api/v1/blasts", {"types": ["sms"], "groups": [1], "where": {"attr.LOYALTY": "gold"},
                                        "message": text})  # fmt: skip
    assert blast.status_code == 200 and blast.json()["recipients"] == 1, blast.json()
    wait_until(lambda: finished(blast.json()["id"], 1))
    assert [(s["to"], s["body"]) for s in stub.sends] == [("+12025550101", "Ada, BLACK gift for gold members")]
