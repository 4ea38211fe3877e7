"""Blasts on whatsapp and rcs (through the console channel, in process): who gets them, free text
inside WhatsApp's 24-hour session window and the template outside it, merge fields in the template's
variables, the estimate's prices, and the 400s."""

import json

import pytest
from django.utils import timezone

from blasts.models import ConsoleSend
from logs.models import ChannelSession, Delivery, Message
from subscribers import attributes
from tests.factories import GroupFactory, SubscriberFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

BLASTS = "/api/v1/blasts"
TEMPLATE = "HX" + "0123456789abcdef" * 2


@pytest.fixture
def chatters(org):
    group = GroupFactory(organization=org, number=1)
    people = {
        "ada": SubscriberFactory(organization=org, first="Ada", phone="+12025550101", whatsapp=True, text=True,
                                 attributes={"COLOR": "BLACK"}, groups=[group]),
        "bob": SubscriberFactory(organization=org, first="Bob", phone="+12025550102", whatsapp=True,
                                 attributes={"COLOR": "RED"}, groups=[group]),
        "cy": SubscriberFactory(organization=org, first="Cy", phone="+12025550103", text=True, groups=[group]),
    }  # fmt: skip
    attributes.remember(org.pk, ["COLOR"])
    ChannelSession.objects.create(channel="whatsapp", address="+12025550101", last_inbound_at=timezone.now())
    return people


def test_whatsapp_goes_to_the_opted_in_as_free_text_in_the_window_and_a_template_outside(api, chatters, run_jobs):
    response = run_jobs(api.post, BLASTS, {
        "types": ["whatsapp"], "groups": [1], "message": "Hi {first}, your color: {attr.COLOR|none}",
        "contentSid": TEMPLATE, "contentVariables": {"1": "{first|friend}", "2": "{attr.COLOR|none}"},
    })  # fmt: skip
    assert response.status_code == 200, response.json()
    assert response.json()["recipients"] == 2  # Ada and Bob opted in; Cy did not
    sends = {s.to: s for s in ConsoleSend.objects.all()}
    assert sends["+12025550101"].channel == "whatsapp" and sends["+12025550101"].body == "Hi Ada, your color: BLACK"
    assert sends["+12025550102"].body.startswith(f"[template {TEMPLATE}] ")
    variables = json.loads(sends["+12025550102"].body.split("] ", 1)[1])
    assert variables == {"1": "Bob", "2": "RED"}
    message = Message.objects.get(pk=response.json()["id"])
    assert message.content_sid == TEMPLATE and message.types == ["whatsapp"]


def test_rcs_goes_to_the_texting_subscribers(api, chatters, run_jobs):
    response = run_jobs(api.post, BLASTS, {"types": ["rcs"], "groups": [1], "contentSid": TEMPLATE})
    assert response.status_code == 200, response.json()
    assert set(Delivery.objects.values_list("channel", "recipient")) == {("rcs", "+12025550101"),
                                                                         ("rcs", "+12025550103")}  # fmt: skip
    text = run_jobs(api.post, BLASTS, {"types": ["rcs"], "groups": [1], "message": "Plain {first}"})
    assert {s.body for s in ConsoleSend.objects.filter(delivery__message_id=text.json()["id"])} == {
        "Plain Ada", "Plain Cy"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"types": ["whatsapp"], "message": "Hi"}, "contentSid"),  # a template is needed outside the window
        ({"types": ["telegram"], "message": "Hi"}, "types.0"),
        ({"types": ["sms"], "message": "Hi", "contentSid": TEMPLATE}, "contentSid"),
        ({"types": ["rcs"]}, "message"),
        ({"types": ["whatsapp"], "contentSid": "HXnope"}, "contentSid"),
        ({"types": ["whatsapp"], "contentSid": TEMPLATE, "contentVariables": {"1": "{frist}"}}, "contentVariables.1"),
    ],
)
def test_bad_chat_blasts_are_400_naming_the_field_and_send_nothing(api, chatters, run_jobs, body, field):
    with nothing_written(Message, Delivery, ConsoleSend):
        response = run_jobs(api.post, BLASTS, {"groups": [1], **body})
    assert response.status_code == 400, response.json()
    assert response.json()["message"].startswith(f"{field}: "), response.json()


def test_the_estimate_prices_whatsapp_and_rcs_and_bounds_the_sms_fallback(api, chatters, settings):
    settings.PRICE_WHATSAPP, settings.PRICE_RCS, settings.PRICE_SMS = 0.005, 0.01, 0.0079
    response = api.post("/api/v1/blasts/estimate", {"types": ["whatsapp", "rcs"], "groups": [1], "hasMedia": 0,
                                                    "message": "Hello"})  # fmt: skip
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["recipients"] == {"whatsapp": 2, "rcs": 2}
    assert body["cost"] == {"whatsapp": 0.01, "rcs": 0.02} and body["total"] == 0.03
    assert body["rcsFallback"] == {"recipients": 2, "cost": 0.0158}
