"""The device gateway as a channel: texts handed to paired Android phones.

Two routes an organization can choose (`Organization.routes`, `{"sms": ...}`): "device", its own
phones (self-managed), and "pool", the shared pool's phones (API-only). A dispatcher hands the
rendered texts over (`send_batch`: each `Result.held`, the delivery stays queued for a phone);
the phones claim, send and report through the gateway protocol (devices.protocol). A text no
phone took in time comes back to the dispatcher, and `routed` sends it through the platform's
normal SMS channel instead, which is recorded on the delivery as its provider.
"""

from collections.abc import Sequence

from blasts.channels.base import Channel, Outgoing, Result
from connext.models import Organization
from devices import queue
from logs.models import Kind

OWN, POOL = "device", "pool"
KINDS = frozenset({Kind.SMS})


class DeviceChannel(Channel):
    kinds = KINDS
    can_lookup = True  # nothing went to a phone before the hand-over was recorded: never "sent"

    def __init__(self, name: str, fallback):
        self.name, self.pool, self.fallback = name, name == POOL, fallback

    def routed(self, items: Sequence[Outgoing], organization) -> list[tuple[Channel, list[Outgoing]]]:
        fleet = queue.fleet_for(organization, pool=self.pool)
        if fleet is None:  # no pool configured: nothing to wait for
            return [(self.fallback(), list(items))]
        late = queue.fallen_back([item.delivery_id for item in items])
        return [
            (self.fallback(), [item for item in items if item.delivery_id in late]),
            (self, [item for item in items if item.delivery_id not in late]),
        ]

    def send_batch(self, items: Sequence[Outgoing]) -> list[Result]:
        # A dispatcher's batch is one message's: one organization.
        organization = Organization.objects.filter(messages__deliveries__pk=items[0].delivery_id).first()
        queue.enqueue([(item.delivery_id, item.to, item.body) for item in items],
                      fleet=queue.fleet_for(organization, pool=self.pool))  # fmt: skip
        return [Result.handed_over(item.delivery_id) for item in items]

    def lookup(self, item: Outgoing, since) -> list[str]:
        return []
