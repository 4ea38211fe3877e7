"""The one small interface every provider implements, and the words a provider's answers are
translated into.

The dispatcher hands a channel a batch of rendered `Outgoing` items and gets one `Result` per
item back. Callbacks arrive at the channel's own views, which check the provider's signature
and parse what it says into the neutral reports of `logs.reports`, which applies them and
knows no provider code. A channel never touches the database state of a
delivery itself. Channels do their own I/O concurrency (a batch is sent with many requests in
flight).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from logs.reports import Refusal


@dataclass(frozen=True, slots=True)
class Outgoing:
    delivery_id: int
    kind: str  # sms | mms | voice | email | whatsapp | rcs
    to: str  # E.164 phone or email address
    body: str = ""  # SMS/MMS text, email text, voice text-to-speech
    subject: str = ""
    media_urls: tuple[str, ...] = ()  # MMS attachments; for voice the recording to play
    unsubscribe_url: str = ""  # email: List-Unsubscribe and the footer link
    html: str = ""  # email HTML body (text body is `body`)
    sender: str = ""  # the organization's own from-number or from-address; "" = the channel's default
    # whatsapp / rcs: a Twilio Content template and its variables rendered for this recipient (JSON
    # text); sent instead of `body` when set.
    content_sid: str = ""
    content_variables: str = ""

    def content_text(self) -> str:
        """What a template send says, for outboxes and logs (the provider renders the template)."""
        return f"[template {self.content_sid}] {self.content_variables}".rstrip()

    # Twilio: a sender starting with MG is a Messaging Service SID (texts only). Email: its from-name.
    sender_name: str = ""

    def email_text(self) -> str:
        """An email's text part as every channel sends it: the body, then the unsubscribe link."""
        return f"{self.body}\n\n--\nUnsubscribe: {self.unsubscribe_url}" if self.unsubscribe_url else self.body


@dataclass(frozen=True, slots=True)
class Result:
    delivery_id: int
    ok: bool
    provider_id: str = ""
    error_code: str = ""
    error_message: str = ""
    # Worth trying again later (429, 5xx, timeouts, connection errors): the
    # delivery goes back to `queued` with a backoff instead of failing.
    transient: bool = False
    retry_after: float | None = None  # seconds the provider asked us to wait
    refusal: Refusal | None = None  # a permanent failure the provider explained (see Refusal)
    extra: dict = field(default_factory=dict)
    # Taken into another queue that sends it later (the device gateway's): it stays queued there.
    held: bool = False

    @classmethod
    def sent(cls, delivery_id: int, provider_id: str) -> "Result":
        return cls(delivery_id, True, provider_id=provider_id)

    @classmethod
    def handed_over(cls, delivery_id: int) -> "Result":
        return cls(delivery_id, False, held=True)

    @classmethod
    def failed(
        cls, delivery_id: int, code, message: str, *, transient: bool = False, retry_after=None, refusal=None
    ) -> "Result":
        return cls(delivery_id, False, error_code=str(code), error_message=message, transient=transient,
                   retry_after=retry_after, refusal=refusal)  # fmt: skip


class Channel:
    """A provider. `name` is stored on each delivery (`provider`); `kinds` are the delivery
    kinds (sms, mms, voice, email) it sends."""

    name: str = ""
    kinds: frozenset[str] = frozenset()
    # Sends per second across all workers (per-provider rate limit); 0 = unlimited.
    rate_per_second: float = 0

    def send_batch(self, items: Sequence[Outgoing]) -> list[Result]:
        raise NotImplementedError

    def routed(self, items: Sequence[Outgoing], organization) -> list[tuple["Channel", list[Outgoing]]]:
        """Which channel sends which of `items` for `organization`: this one, all of them, unless
        it gives some to another (the device gateway's texts no phone took in time)."""
        return [(self, list(items))]

    # Whether `lookup` can tell if a send went out (see blasts.sweeper.settle_expired_leases).
    can_lookup: bool = False

    def lookup(self, item: Outgoing, since) -> list[str]:
        """After a worker died mid-send: the provider ids of the sends the provider took since
        `since` (a datetime) that may be `item` (to its address, from its sender, the same
        text), newest first; [] when the provider has none. The sweeper decides: one it does not
        know of on another delivery is this one; none, it was never sent; several, it cannot
        tell. Only called when `can_lookup`."""
        raise NotImplementedError

    def after_sent(self, delivery_ids: list[int]) -> None:
        """Called once the batch's `sent` results are recorded (the console simulates delivery)."""

    def close(self) -> None:
        """Release connections (called when a dispatcher is done)."""


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
