"""What providers report after a send, in our words, and how it is applied.

A channel (`blasts/channels/`) checks its provider's signature and parses each callback into
these neutral reports; this module applies them: statuses through the state machine, refusals
on the blocklist, tracked clicks on their deliveries. Nothing here knows a provider's codes.

Idempotent, so a provider's retry changes nothing: statuses only move forward (`logs.state`),
the blocklist is a set, and a click carrying the provider's event id is counted once.
"""

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connext.db import retry_on_conflict
from connext.models import Organization
from logs import state
from logs.clicks import count_clicks
from logs.models import Click, Delivery
from subscribers.models import BlocklistEntry
from subscribers.services import blocklist_add

logger = logging.getLogger(__name__)

ERROR_TEXT = 500  # characters of a provider's error message kept on the delivery


class Refusal(StrEnum):
    """Why a provider will not reach an address (each channel maps its provider's codes here)."""

    OPTED_OUT = "opted_out"  # the recipient opted out at the provider (replied STOP): blocklisted
    NOT_MOBILE = "not_mobile"  # a text cannot reach it (a landline): voice fallback may call it
    BOUNCE = "bounce"  # a hard bounce: the address does not exist (blocklisted)
    COMPLAINT = "complaint"  # the recipient reported the message as spam (blocklisted)


# The blocklist reason each refusal puts an address on the blocklist for.
BLOCKS = {
    Refusal.OPTED_OUT: BlocklistEntry.Reason.STOP,
    Refusal.BOUNCE: BlocklistEntry.Reason.BOUNCE,
    Refusal.COMPLAINT: BlocklistEntry.Reason.COMPLAINT,
}


@dataclass(frozen=True, slots=True)
class Report:
    """What a provider said about one send after it took it (a status callback, an event).

    The delivery is ours (`delivery_id`, which the provider echoes) or, when it did not echo
    it, the one(s) with the provider's id `provider_id`. `status` is the delivery status the
    report implies (sent, delivered, failed) or None when it says nothing of the status (a spam
    report); a `refusal` other than NOT_MOBILE puts the address on the blocklist.
    """

    delivery_id: int | None
    provider_id: str = ""
    status: str | None = None
    at: datetime | None = None  # when it happened; None: now (the first arrival of each status counts)
    error_code: str = ""
    error_message: str = ""
    refusal: Refusal | None = None
    fallback: str = ""  # the channel that carried the send instead (an RCS send that went as "sms")


@dataclass(frozen=True, slots=True)
class ClickReport:
    """A click the provider tracked; `event_id` (the provider's) de-duplicates its retries."""

    delivery_id: int | None
    provider_id: str = ""
    url: str = ""
    ip: str | None = None
    user_agent: str = ""
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class InboundText:
    """A text a recipient sent to one of our numbers (a reply, or STOP/START/HELP)."""

    from_number: str
    to_number: str
    body: str
    provider_id: str  # the provider's id of the message: a repeated post is stored once
    channel: str = "sms"  # sms (and mms), whatsapp or rcs: where it came from
    messaging_service_sid: str = ""  # Twilio: the Messaging Service the number belongs to, if any


def delivery_id_of(value) -> int | None:
    """Our delivery id as a provider echoes it (a query parameter, a custom arg): None when the
    text cannot be one (digits only, below 2**63: a bigint)."""
    text = str(value)
    return int(text) if text.isdigit() and len(text) < 19 else None


@retry_on_conflict()  # providers do not all retry a failed callback: a deadlock's victim runs again
def apply_reports(reports: Sequence[Report | ClickReport], *, provider: str, kinds: Collection[str]) -> dict:
    """Apply one callback's reports from `provider`, whose deliveries are of `kinds`: one
    conditional UPDATE per status (forward only), the blocklist for refusals, clicks counted
    once per event id. Reports for deliveries we do not know change nothing. All of it in one
    transaction. Returns counts: rows changed per status, `blocked`, `clicks`."""
    if not reports:
        return {}
    if len(reports) == 1 and _plain_status(reports[0]):
        # The common case (a status callback naming our delivery): one UPDATE, no lookup.
        report = reports[0]
        changed = state.apply_callbacks(report.status, [_row(report.delivery_id, report)], provider=provider)
        return {report.status: changed}
    rows_of = _deliveries_of(reports, kinds)
    statuses: dict[str, dict[int, tuple]] = defaultdict(dict)
    blocks: set[tuple[int, str, str]] = set()
    clicks: list[Click] = []
    fallbacks: dict[str, list[int]] = defaultdict(list)
    for report in reports:
        for row in rows_of(report):
            if isinstance(report, ClickReport):
                clicks.append(_click(row["id"], report))
                continue
            if report.fallback:
                fallbacks[report.fallback].append(row["id"])
            if report.status is not None:
                update = _row(row["id"], report)
                earlier = statuses[report.status].get(row["id"])
                if earlier is None or update[1] < earlier[1]:  # the earliest report of a status counts
                    statuses[report.status][row["id"]] = update
            if report.refusal in BLOCKS:
                blocks.add((row["message__organization_id"], row["recipient"], BLOCKS[report.refusal]))
    counts: dict[str, int] = defaultdict(int)
    with transaction.atomic():
        for status in state.CALLBACK_PREDECESSORS:  # the machine's order: sent, delivered, failed
            counts[status] += state.apply_callbacks(status, list(statuses[status].values()), provider=provider)
        _block_all(blocks)
        counts["blocked"] = len(blocks)
        for channel, ids in fallbacks.items():
            # Not a status: which channel carried the send, recorded once (the first report that says so).
            counts["fallbacks"] += Delivery.objects.filter(id__in=ids, fallback="").update(fallback=channel[:16])
        counts["clicks"] = count_clicks(clicks)
    return dict(counts)


def block_refused(delivery_ids: Sequence[int], refusal: Refusal) -> None:
    """A provider refused these sends for `refusal` (e.g. the number opted out at the provider):
    the blocklist agrees, as it does when a callback says so."""
    if refusal not in BLOCKS or not delivery_ids:
        return
    rows = Delivery.objects.filter(id__in=delivery_ids).values("recipient", "message__organization_id")
    _block_all({(row["message__organization_id"], row["recipient"], BLOCKS[refusal]) for row in rows})


def _plain_status(report) -> bool:
    return (
        isinstance(report, Report)
        and report.delivery_id is not None
        and report.status
        and not report.refusal
        and not report.fallback
    )


def _row(delivery_id: int, report: Report) -> tuple:
    """One row of `state.apply_callbacks`, the provider's texts cut to what the columns hold."""
    at = report.at or timezone.now()
    return (delivery_id, at, report.provider_id[:64], report.error_code[:32], report.error_message[:ERROR_TEXT])


def _deliveries_of(reports, kinds: Collection[str]):
    """A function from a report to its deliveries' rows (id, recipient, organization): ours by
    id, else every delivery of `kinds` with the provider's id. One query for all the reports."""
    ids = {r.delivery_id for r in reports if r.delivery_id is not None}
    provider_ids = {r.provider_id for r in reports if r.delivery_id is None and r.provider_id}
    if not ids and not provider_ids:
        return lambda report: []
    by_id, by_provider_id = {}, defaultdict(list)
    found = Delivery.objects.filter(
        Q(id__in=ids) | Q(provider_id__in=provider_ids, channel__in=list(kinds)) & ~Q(provider_id="")
    ).values("id", "provider_id", "recipient", "message__organization_id")
    for row in found:
        by_id[row["id"]] = row
        if row["provider_id"] in provider_ids:
            by_provider_id[row["provider_id"]].append(row)

    def rows_of(report) -> list[dict]:
        if report.delivery_id is not None:
            row = by_id.get(report.delivery_id)
            return [row] if row else []
        return by_provider_id.get(report.provider_id, [])

    return rows_of


def _click(delivery_id: int, report: ClickReport) -> Click:
    return Click(
        delivery_id=delivery_id,
        event_id=report.event_id[:100],
        url=report.url,
        ip=report.ip,
        user_agent=report.user_agent[:255],
    )


def _block_all(blocks: set[tuple[int, str, str]]) -> None:
    orgs = Organization.objects.in_bulk({org_id for org_id, _, _ in blocks})
    for org_id, recipient, reason in sorted(blocks):
        try:
            blocklist_add(organization=orgs[org_id], recipient=recipient, reason=reason)
        except Exception:  # one address we cannot parse must not fail (and retry) the callback
            logger.warning("cannot blocklist %r (%s)", recipient, reason, exc_info=True)


def record_keypress(delivery_id: int, key: str) -> bool:
    """The key a recipient pressed on an IVR call; the first answer counts. True if recorded."""
    return bool(Delivery.objects.filter(pk=delivery_id, digits="").update(digits=key[:1]))
