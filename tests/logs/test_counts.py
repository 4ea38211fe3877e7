"""PostgreSQL keeps per-message running totals by trigger; they must equal a recount of the rows
after any mix of writes (fan-out, claims, results, callbacks, clicks, cancel, ORM updates)."""

import datetime as dt

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from blasts.fanout import fanout
from logs import selectors, state
from logs.models import Delivery, Message, MessageCount
from tests.conftest import SQLITE

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(SQLITE, reason="the totals are PostgreSQL triggers")]


def recount(message_id: int) -> dict[str, int]:
    rows = Delivery.objects.filter(message_id=message_id)
    out = {row["status"]: row["n"] for row in rows.values("status").annotate(n=Count("id")).order_by()}
    out["clicks"] = rows.aggregate(n=Sum("clicks"))["n"] or 0
    out["clicked"] = rows.filter(clicks__gt=0).count()
    for row in rows.filter(status="failed").values("error_code").annotate(n=Count("id")).order_by():
        out[f"error:{row['error_code']}"] = row["n"]
    return {k: v for k, v in out.items() if v}


def totals(message_id: int) -> dict[str, int]:
    shards = MessageCount.objects.filter(message_id=message_id).values("key").annotate(total=Sum("n")).order_by()
    return {row["key"]: row["total"] for row in shards if row["total"]}


def test_totals_follow_every_kind_of_write(api, audience):
    message_id = api.post("/api/v1/blasts", {"types": ["sms", "email"], "groups": [1], "message": "x",
                                             "subject": "s"}).json()["id"]  # fmt: skip
    fanout(message_id)
    assert totals(message_id) == recount(message_id) == {"queued": 8}
    ids, lease = state.claim(message_id, 5, 60)
    state.record_sent([(ids[0], "SM0"), (ids[1], "SM1")], provider="twilio", lease=lease)
    state.record_failed([(ids[2], "21211", "Invalid number"), (ids[3], "21211", "Invalid number")],
                        provider="twilio", lease=lease)  # fmt: skip
    state.record_retry([(ids[4], "503", "busy", timezone.now() + dt.timedelta(seconds=5))], lease=lease)
    state.apply_status([ids[0]], "delivered")
    state.apply_status([ids[0]], "sent")  # late: ignored
    Delivery.objects.filter(pk=ids[1]).update(clicks=2)
    state.cancel(message_id)
    assert totals(message_id) == recount(message_id)
    assert totals(message_id)["error:21211"] == 2 and totals(message_id)["clicks"] == 2
    stats = selectors.message_stats(Message.objects.get(pk=message_id))
    assert stats["errors"] == [{"code": "21211", "message": "Invalid number", "count": 2}]
    assert stats["statuses"]["canceled"] == 4 and stats["statuses"]["clicked"] == 1
