"""The console channel: the embedded default when a provider has no credentials.

It "sends" by writing each item to the `ConsoleSend` outbox (and the log), then
reports it `sent`; a task marks it `delivered` a moment later, as a provider's
callback would.
"""

import logging
from collections.abc import Sequence

from django.conf import settings

from blasts.channels.base import Channel, Outgoing, Result

logger = logging.getLogger("connext.console")


class ConsoleChannel(Channel):
    name = "console"
    kinds = frozenset({"sms", "mms", "voice", "email"})
    can_lookup = True

    def send_batch(self, items: Sequence[Outgoing]) -> list[Result]:
        from blasts.models import ConsoleSend

        rows = ConsoleSend.objects.bulk_create(
            ConsoleSend(
                delivery_id=item.delivery_id,
                channel=item.kind,
                to=item.to,
                subject=item.subject,
                body=item.email_text() if item.kind == "email" else item.body,
                media=list(item.media_urls),
            )
            for item in items
        )
        for row in rows:  # the whole send, as the recipient would get it (an email's unsubscribe link too)
            logger.info("%s to %s: %s", row.channel, row.to, f"[{row.subject}] {row.body}" if row.subject else row.body)
        return [Result.sent(row.delivery_id, f"console-{row.pk}") for row in rows]

    def lookup(self, item: Outgoing, since) -> str | None:
        from blasts.models import ConsoleSend

        row = ConsoleSend.objects.filter(delivery_id=item.delivery_id, created_at__gte=since).order_by("-id").first()
        return f"console-{row.pk}" if row else None

    def after_sent(self, delivery_ids: list[int]) -> None:
        """Simulate the provider's `delivered` callback shortly after."""
        if not delivery_ids:
            return
        from blasts.tasks import console_delivered

        console_delivered.apply_async(args=[delivery_ids], countdown=settings.CONSOLE_DELIVERY_DELAY)


def deliver_overdue(sent_before, *, since) -> int:
    """Receipts a dead worker took with it: its delayed `console_delivered` tasks wait for the
    broker's visibility timeout (an hour) before another worker gets them. Console sends of
    messages created after `since` and still `sent` before `sent_before` are delivered now."""
    from logs import state
    from logs.models import Delivery, Message

    recent = Message.objects.filter(created_at__gte=since).values("id")
    overdue = Delivery.objects.filter(
        message_id__in=recent, status=state.SENT, provider=ConsoleChannel.name, sent_at__lt=sent_before
    )
    return state.apply_status(list(overdue.values_list("id", flat=True)[:10000]), state.DELIVERED)
