"""One announcement point: every change others may want to know of, said in one place.

The code that changes a thing announces it with what it changed (a delivery's status as the
UPDATE ... RETURNING wrote it, a click, a reply, a blocklist entry). Two kinds of listener:

- `listen(fn, in_transaction=True)`: called at once, inside the transaction that made the
  change. For what must never be lost nor be written for a change that rolls back (a webhook
  outbox row, a credit refund): write it in that same transaction.
- `listen(fn)`: called once the transaction commits, never for one that rolls back. For what
  may be late but must not see uncommitted data (publishing, caches).

A listener gets a tuple of changes (a batch: one UPDATE's rows) and must not raise for one it
does not care about. With no listener, announcing costs a length check: the callback and
dispatch paths announce thousands of changes a second.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

Listener = Callable[[tuple], None]

_in_transaction: list[Listener] = []
_after_commit: list[Listener] = []


@dataclass(frozen=True, slots=True)
class DeliveryStatusChanged:
    """A delivery moved to `status` (queued, sending, sent, delivered, failed, canceled)."""

    delivery_id: int
    message_id: int
    channel: str
    recipient: str
    status: str
    provider: str = ""
    provider_id: str = ""
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryClicked:
    """A recipient clicked a link of a delivery (our short link, or one a provider tracked)."""

    delivery_id: int
    url: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReplyReceived:
    """A recipient texted back (not a keyword): stored as a reply to their last delivery."""

    reply_id: int
    organization_id: int
    delivery_id: int | None
    from_number: str
    body: str


@dataclass(frozen=True, slots=True)
class BlocklistChanged:
    """An address went on (`blocked`) or off an organization's blocklist, for `reason`
    (stop, bounce, complaint: an opt-out; manual: a block by the organization)."""

    organization_id: int
    recipient: str
    reason: str
    blocked: bool


@dataclass(frozen=True, slots=True)
class ImportFinished:
    """A subscriber import job ended (`status` done or failed) with these counts."""

    organization_id: int
    import_id: int
    status: str
    total: int
    created: int
    updated: int
    skipped: int


@dataclass(frozen=True, slots=True)
class ScheduleFired:
    """A schedule started a blast (`log_id`, the message) for `recipients` at `fired_at`."""

    organization_id: int
    schedule_id: int
    log_id: int
    fired_at: datetime
    recipients: int


def listen(listener: Listener, *, in_transaction: bool = False) -> None:
    """Call `listener` with each batch of changes announced from now on (see the module doc)."""
    (_in_transaction if in_transaction else _after_commit).append(listener)


def unlisten(listener: Listener) -> None:
    for listeners in (_in_transaction, _after_commit):
        if listener in listeners:
            listeners.remove(listener)


def listening() -> bool:
    """Whether anyone listens: a caller may skip building its changes when nobody does."""
    return bool(_in_transaction or _after_commit)


def announce(changes: Sequence) -> None:
    """Tell the listeners about `changes`, made in the current transaction (or just committed,
    outside one)."""
    if not changes or not (_in_transaction or _after_commit):
        return
    batch = tuple(changes)
    for listener in tuple(_in_transaction):
        listener(batch)
    if _after_commit:
        # robust: one failing listener is logged, and neither the others nor the caller fail.
        for listener in tuple(_after_commit):
            transaction.on_commit(lambda listener=listener: listener(batch), robust=True)
