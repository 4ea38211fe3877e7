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

The busiest change, one status callback, is one statement in autocommit: no transaction to
write in beside it, and opening one costs two round trips. An in-transaction listener should
therefore say which statuses it `writes=` for (the statement needs a transaction only for
those), and may give `statement=`: the SQL of data-modifying CTEs that write, inside the very
statement that moves deliveries to a status, what the listener would write for them (see
`statement_for`). That statement stays one round trip and one commit, and the listener is not
called for its batch; its `written=` function is, to do what needs no transaction (waking).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

Listener = Callable[[tuple], None]
StatementSql = Callable[[str], str | None]

_in_transaction: list[Listener] = []
_after_commit: list[Listener] = []
# in-transaction listener -> (writes, statement, written): see listen()
_statement_parts: dict[Listener, tuple[Callable[[str], bool], StatementSql | None, Listener]] = {}


@dataclass(frozen=True, slots=True)
class Statement:
    """What the in-transaction listeners add to a statement that moves deliveries to a status:
    `ctes` (to append after the statement's own `WITH changed AS (UPDATE ... RETURNING ...)`),
    the listeners they stand for (`handled`: announce skips them), their `written` functions
    (announce calls them instead), and whether another listener must still write beside the
    statement (`needs_transaction`: then it has to run in one)."""

    ctes: tuple[str, ...] = ()
    handled: frozenset = frozenset()
    written: tuple[Listener, ...] = ()
    needs_transaction: bool = False


NO_STATEMENT = Statement()


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


def listen(
    listener: Listener,
    *,
    in_transaction: bool = False,
    writes: Callable[[str], bool] | None = None,
    statement: StatementSql | None = None,
    written: Listener | None = None,
) -> None:
    """Call `listener` with each batch of changes announced from now on (see the module doc).

    For an in-transaction listener, about statements that move deliveries to a status:
    - `writes(status)`: whether it may write anything for such deliveries (default: yes). When
      it may not, it is not called for them, and the statement needs no transaction for it.
    - `statement(status)`: when it writes, the text of one or more CTEs, separated by commas,
      that write it in the statement itself: they read the moved rows from the CTE `changed`
      (columns id, message_id, channel, recipient, status, provider, provider_id, error_code,
      error_message) and may use the statement's parameter `%(now)s`; None to be called as
      usual instead. `written(batch)` is called after such a statement, in its place."""
    (_in_transaction if in_transaction else _after_commit).append(listener)
    if writes is not None or statement is not None:
        assert in_transaction, "only an in-transaction listener writes beside a change"
        _statement_parts[listener] = (writes or (lambda status: True), statement, written or (lambda batch: None))


def unlisten(listener: Listener) -> None:
    for listeners in (_in_transaction, _after_commit):
        if listener in listeners:
            listeners.remove(listener)
    _statement_parts.pop(listener, None)


def listening() -> bool:
    """Whether anyone listens: a caller may skip building its changes when nobody does."""
    return bool(_in_transaction or _after_commit)


def statement_for(status: str) -> Statement:
    """The listeners' part of a statement that moves deliveries to `status` (PostgreSQL)."""
    ctes, handled, written = [], [], []
    for listener, (writes, sql, wrote) in _statement_parts.items():
        if not writes(status):
            handled.append(listener)  # nothing to write for these changes: not called
        elif sql is not None and (text := sql(status)):
            ctes.append(text)
            handled.append(listener)
            written.append(wrote)
    needs_transaction = any(listener not in handled for listener in _in_transaction)
    return Statement(tuple(ctes), frozenset(handled), tuple(written), needs_transaction)


def without_statement() -> Statement:
    """For a statement that takes no CTE (SQLite, a batch): every in-transaction listener is
    called, so the statement needs a transaction when any listens."""
    return Statement(needs_transaction=bool(_in_transaction))


def announce(changes: Sequence, statement: Statement = NO_STATEMENT) -> None:
    """Tell the listeners about `changes`, made in the current transaction (or just committed,
    outside one); `statement`: what the statement that made them already wrote (its listeners
    are not called, their `written` functions are)."""
    if not changes or not (_in_transaction or _after_commit):
        return
    batch = tuple(changes)
    for listener in tuple(_in_transaction):
        if listener not in statement.handled:
            listener(batch)
    for written in statement.written:
        written(batch)
    if _after_commit:
        # robust: one failing listener is logged, and neither the others nor the caller fail.
        for listener in tuple(_after_commit):
            transaction.on_commit(lambda listener=listener: listener(batch), robust=True)
