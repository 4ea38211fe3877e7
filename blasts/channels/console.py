"""The console channel: the embedded default when a provider has no credentials.

It "sends" by writing each item to the `ConsoleSend` outbox (and the log), then
reports it `sent`; a task marks it `delivered` a moment later, as a provider's
callback would.
"""

import logging
from collections.abc import Sequence

from django.conf import settings

from blasts import wakeups
from blasts.channels.base import Channel, Outgoing, Result
from blasts.models import ConsoleSend
from logs import state
from logs.models import Delivery, Kind, Message

logger = logging.getLogger("connext.console")

NAME = "console"


class ConsoleChannel(Channel):
    name = NAME
    kinds = frozenset(Kind.values)
    can_lookup = True

    def send_batch(self, items: Sequence[Outgoing]) -> list[Result]:
        rows = ConsoleSend.objects.bulk_create(
            ConsoleSend(
                delivery_id=item.delivery_id,
                channel=item.kind,
                to=item.to,
                subject=item.subject,
                body=item.email_text()
                if item.kind == Kind.EMAIL
                else item.content_text()
                if item.content_sid
                else item.body,
                media=list(item.media_urls),
            )
            for item in items
        )
        for row in rows:  # the whole send, as the recipient would get it (an email's unsubscribe link too)
            logger.info("%s to %s: %s", row.channel, row.to, f"[{row.subject}] {row.body}" if row.subject else row.body)
        return [Result.sent(row.delivery_id, f"console-{row.pk}") for row in rows]

    def lookup(self, item: Outgoing, since) -> list[str]:
        """The outbox knows each send's delivery: an exact answer."""
        rows = ConsoleSend.objects.filter(delivery_id=item.delivery_id, created_at__gte=since).order_by("-id")
        return [f"console-{pk}" for pk in rows.values_list("pk", flat=True)[:1]]

    def after_sent(self, delivery_ids: list[int]) -> None:
        """Simulate the provider's `delivered` callback shortly after."""
        if delivery_ids:
            wakeups.wake(wakeups.CONSOLE_RECEIPTS, delivery_ids, countdown=settings.CONSOLE_DELIVERY_DELAY)


def deliver_overdue(sent_before, *, since) -> int:
    """Receipts a dead worker took with it: its delayed receipt tasks wait for the
    broker's visibility timeout (an hour) before another worker gets them. Console sends of
    messages created after `since` and still `sent` before `sent_before` are delivered now."""
    recent = Message.objects.filter(created_at__gte=since).values("id")
    overdue = Delivery.objects.filter(
        message_id__in=recent, status=state.SENT, provider=ConsoleChannel.name, sent_at__lt=sent_before
    )
    return state.apply_status(list(overdue.values_list("id", flat=True)[:10000]), state.DELIVERED)
