"""The per-provider send rate: a batch is cut so no clock second carries more than the limit."""

import time
from collections import Counter

from django.test import override_settings

from blasts.channels import Channel, Outgoing
from blasts.services import _rate_limited


class Recorder(Channel):
    name = "ratelimit-test"
    rate_per_second = 5


@override_settings(RATELIMIT_STORAGE_URL="memory://")
def test_a_batch_is_spread_over_seconds_at_the_provider_rate():
    items = [Outgoing(delivery_id=i, kind="sms", to=f"+1202555{i:04d}") for i in range(12)]
    per_second: Counter = Counter()
    sent = []
    for chunk in _rate_limited(Recorder(), items):
        per_second[int(time.time())] += len(chunk)
        sent += chunk
    assert sent == items  # every item, once, in order
    assert max(per_second.values()) <= 5
    assert len(per_second) >= 3


def test_no_limit_sends_the_batch_at_once():
    channel = Recorder()
    channel.rate_per_second = 0
    items = [Outgoing(delivery_id=i, kind="sms", to="+12025550100") for i in range(50)]
    assert list(_rate_limited(channel, items)) == [items]
