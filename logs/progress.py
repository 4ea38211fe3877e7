"""How far a blast has gone: its counts per status against the deliveries it will have.

Read from the running totals (logs.selectors), never by counting a message's deliveries."""

from dataclasses import dataclass

from logs.models import Message
from logs.selectors import STATUSES

UNFINISHED = ("queued", "sending")


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # per status, plus "clicked" or "clicks" when the reader had them
    total: int  # the deliveries the blast has, or will have once fanned out

    @property
    def left(self) -> int:
        """Deliveries not finished: queued, sending, or not made yet."""
        made = sum(self.counts.get(status, 0) for status in STATUSES)
        return sum(self.counts.get(status, 0) for status in UNFINISHED) + max(0, self.total - made)

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * (self.total - self.left) / self.total)

    @property
    def running(self) -> bool:
        return self.left > 0


def progress_of(message: Message, counts: dict[str, int]) -> Progress:
    """`counts` per status (selectors.counts_by_message or message_stats) as the message's progress.

    Before its fan-out a message has no deliveries: its counted recipients are all to come (or
    canceled, when it was canceled first: its fan-out then makes none)."""
    counts = {status: counts.get(status, 0) for status in [*STATUSES, "clicked", "clicks"] if status in counts}
    made = sum(counts.get(status, 0) for status in STATUSES)
    if message.fanned_out_at is None:
        if message.canceled_at is not None:
            return Progress(
                {**counts, "canceled": counts.get("canceled", 0) + message.recipients}, made + message.recipients
            )
        return Progress(counts, max(made, message.recipients))
    return Progress(counts, made)
