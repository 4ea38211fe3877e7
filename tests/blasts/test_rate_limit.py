"""The per-provider send rate: a batch is cut into chunks that fit each second's shared budget.

How the chunks spread over wall-clock seconds is measured, not asserted: bench/provider_timing.py.
"""

from django.test import override_settings

from blasts.channels import Channel, Outgoing
from blasts.dispatch import _rate_limited


class Recorder(Channel):
    name = "ratelimit-test"
    rate_per_second = 5


@override_settings(RATELIMIT_STORAGE_URL="memory://")
def test_a_batch_is_cut_into_chunks_no_bigger_than_the_rate():
    items = [Outgoing(delivery_id=i, kind="sms", to=f"+1202555{i:04d}") for i in range(12)]
    chunks = list(_rate_limited(Recorder(), items))
    assert [item for chunk in chunks for item in chunk] == items  # every item, once, in order
    assert all(len(chunk) <= 5 for chunk in chunks) and len(chunks) >= 3


def test_no_limit_sends_the_batch_at_once():
    channel = Recorder()
    channel.rate_per_second = 0
    items = [Outgoing(delivery_id=i, kind="sms", to="+12025550100") for i in range(50)]
    assert list(_rate_limited(channel, items)) == [items]
