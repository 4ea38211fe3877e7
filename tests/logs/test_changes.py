"""The one announcement point (connext.changes): every delivery status change, click, reply and
blocklist change is announced once, in its transaction and after its commit, never for a change
that rolled back."""

from collections import Counter

import pytest
from django.db import transaction
from django.utils import timezone

from connext import changes
from logs import state
from logs.models import Delivery
from tests.conftest import SQLITE
from tests.factories import DeliveryFactory, LinkFactory

pytestmark = pytest.mark.django_db(transaction=True)

ADA = "+12025550101"


class Heard:
    """What the two kinds of listener heard."""

    def __init__(self):
        self.in_transaction: list = []
        self.after_commit: list = []
        self.inside_atomic: list[bool] = []

    def during(self, batch):
        self.inside_atomic.append(transaction.get_connection().in_atomic_block)
        self.in_transaction += batch

    def after(self, batch):
        self.after_commit += batch

    def statuses(self) -> Counter:
        return Counter(
            (c.delivery_id, c.status) for c in self.after_commit if isinstance(c, changes.DeliveryStatusChanged)
        )


@pytest.fixture
def heard():
    heard = Heard()
    changes.listen(heard.during, in_transaction=True)
    changes.listen(heard.after)
    yield heard
    changes.unlisten(heard.during)
    changes.unlisten(heard.after)


def test_a_blast_announces_each_status_of_each_delivery_once(api, audience, run_jobs, heard):
    response = run_jobs(
        api.post, "/api/v1/blasts", {"types": ["sms", "email"], "groups": [1], "message": "Hi", "subject": "News"}
    )
    assert response.status_code == 200, response.content
    deliveries = list(Delivery.objects.filter(message_id=response.json()["id"]))
    assert deliveries and all(d.status == "delivered" for d in deliveries)  # the console's receipts ran

    expected = Counter((d.pk, status) for d in deliveries for status in ("sending", "sent", "delivered"))
    assert heard.statuses() == expected  # each change once, none missing
    assert Counter((c.delivery_id, c.status) for c in heard.in_transaction) == expected
    some = next(c for c in heard.after_commit if c.status == "sent" and c.channel == "sms")
    assert (some.recipient, some.provider) == (Delivery.objects.get(pk=some.delivery_id).recipient, "console")


def test_a_callback_repeated_or_overtaken_announces_nothing_more(org, twilio, heard):
    d = DeliveryFactory(message__organization=org, recipient=ADA, status="sending")
    for status in ("sent", "delivered", "delivered", "sent"):  # Twilio retried; a late "sent"
        params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": status}
        assert twilio.post(f"/hooks/twilio/status?d={d.pk}", params).status_code == 204
    assert heard.statuses() == Counter({(d.pk, "sent"): 1, (d.pk, "delivered"): 1})
    # A callback runs in autocommit: a listener that writes must still be in the change's transaction.
    assert heard.inside_atomic and all(heard.inside_atomic)
    delivered = next(c for c in heard.after_commit if c.status == "delivered")
    assert (delivered.provider, delivered.provider_id) == ("twilio", "SM" + "1" * 32)


def test_a_change_that_rolls_back_is_heard_in_its_transaction_only(org, heard):
    d = DeliveryFactory(message__organization=org, recipient=ADA)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert state.cancel(d.message_id) == 1
        assert [c.status for c in heard.in_transaction] == ["canceled"] and heard.inside_atomic == [True]
        assert heard.after_commit == []  # not before the commit
        raise RuntimeError("rolled back")
    assert heard.after_commit == []
    assert Delivery.objects.get(pk=d.pk).status == "queued"

    state.cancel(d.message_id)
    assert [(c.delivery_id, c.status) for c in heard.after_commit] == [(d.pk, "canceled")]


def test_blocklist_changes_and_replies_are_announced(api, org, twilio, heard):
    assert api.post("/api/v1/blocklist", {"recipient": "+12025550199"}).status_code == 201
    assert api.delete("/api/v1/blocklist", {"recipient": "+12025550199"}).status_code == 204
    d = DeliveryFactory(message__organization=org, recipient=ADA, status="sent", sent_at=timezone.now())
    for body, sid in (("Running late", "SM1"), ("Running late", "SM1"), ("STOP", "SM2"), ("START", "SM3")):
        params = {"MessageSid": sid, "From": ADA, "To": "+15005550006", "Body": body}
        assert twilio.post("/hooks/twilio/inbound", params).status_code == 200

    blocks = [(c.recipient, c.reason, c.blocked) for c in heard.after_commit if isinstance(c, changes.BlocklistChanged)]
    assert blocks == [
        ("+12025550199", "manual", True),
        ("+12025550199", "manual", False),
        (ADA, "stop", True),
        (ADA, "stop", False),
    ]
    replies = [(c.delivery_id, c.body) for c in heard.after_commit if isinstance(c, changes.ReplyReceived)]
    assert replies == [(d.pk, "Running late")]  # Twilio's retry of SM1 is not a second reply


def test_a_short_link_click_is_announced(org, client, heard):
    link = LinkFactory(delivery__message__organization=org, url="https://acme.example/menu")
    assert client.get(f"/l/{link.code}").status_code == 302
    assert client.head(f"/l/{link.code}").status_code == 302  # a HEAD is no click
    clicks = [(c.delivery_id, c.url) for c in heard.after_commit if isinstance(c, changes.DeliveryClicked)]
    assert clicks == [(link.delivery_id, "https://acme.example/menu")]


@pytest.mark.skipif(SQLITE, reason="the statement's listener parts are PostgreSQL's")
def test_a_listener_that_writes_for_some_statuses_is_called_for_those_only_and_in_a_transaction(org, twilio):
    heard = []

    def listener(batch):
        heard.append(([c.status for c in batch], transaction.get_connection().in_atomic_block))

    changes.listen(listener, in_transaction=True, writes=lambda status: status == "failed")
    try:
        d = DeliveryFactory(message__organization=org, recipient=ADA, status="sending")
        for params in ({"MessageStatus": "sent"}, {"MessageStatus": "failed", "ErrorCode": "30003"}):
            response = twilio.post(f"/hooks/twilio/status?d={d.pk}", {"MessageSid": "SM" + "3" * 32, **params})
            assert response.status_code == 204
    finally:
        changes.unlisten(listener)
    assert heard == [(["failed"], True)]
    assert Delivery.objects.get(pk=d.pk).status == "failed"
