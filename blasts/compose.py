"""Composing a blast: `POST /blasts`, `/blasts/test` and `/blasts/estimate`.

`blast_create` writes one Message and counts its recipients; after commit `fan_out_message`
(blasts.fanout) makes its deliveries. Every bad input was refused before, by the serializers.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import metering
from blasts import rendering, wakeups
from blasts.audience import Audience, Plan, audience_for, channel_where, plan_for
from connext.errors import ApplicationError
from connext.models import User
from logs.models import Delivery, Kind, Message
from logs.segments import sms_info
from subscribers.models import BlocklistEntry

PRICE_SETTINGS = {
    Kind.SMS: "PRICE_SMS",
    Kind.MMS: "PRICE_MMS",
    Kind.VOICE: "PRICE_VOICE",
    Kind.EMAIL: "PRICE_EMAIL",
    Kind.WHATSAPP: "PRICE_WHATSAPP",
    Kind.RCS: "PRICE_RCS",
}


def count_recipients(audience: Audience, plan: Plan) -> dict[str, int]:
    """Deliveries per channel a fan-out would create now."""
    if audience.empty:
        return dict.fromkeys(plan.channels, 0)
    counts = {}
    with connection.cursor() as cursor:
        for channel in plan.channels:
            _, where, params = channel_where(audience, channel, plan)
            cursor.execute(f"SELECT COUNT(*) FROM subscribers_subscriber s WHERE {where}", params)  # noqa: S608
            counts[channel] = cursor.fetchone()[0]
    return counts


def audience_of(org, data: dict) -> Audience:
    """The audience a blast or estimate request names (groups, dnc, where, segment); 400s name the field."""
    return audience_for(
        org, data.get("groups", []), data.get("dnc", []), where=data.get("where"), segment=data.get("segment")
    )


def blast_create(*, user: User, data: dict) -> Message:
    """The Message of a blast to groups, filters or a segment; deliveries are made by `fanout` after commit."""
    org = user.organization
    audience = audience_of(org, data)
    plan = plan_for(data["types"], has_media=bool(data.get("media")), voice_fallback=data.get("voice_fallback", False))
    external_id = data.get("external_id", "")
    if external_id:
        existing = Message.objects.filter(organization=org, external_id=external_id).values_list("id", flat=True)
        if existing:
            raise ApplicationError("External ID already processed", status_code=409, extra={"id": existing[0]})
    counts = count_recipients(audience, plan)
    # A suspended account sends nothing (403); a billed one whose credits cannot pay, 402.
    prices = unit_prices(data.get("message", ""), plan.channels)
    metering.check_affordable(org, sum((prices[c][0] * n for c, n in counts.items()), Decimal(0)))
    try:
        with transaction.atomic():
            message = _message_create(
                user,
                data,
                voice_fallback=data.get("voice_fallback", False),
                group_numbers=data.get("groups", []),
                dnc_numbers=data.get("dnc", []),
                where=data.get("where") or {},
                everyone=not data.get("groups"),
                segment_id=data.get("segment"),
                external_id=external_id,
                recipients=sum(counts.values()),
            )
    except IntegrityError:  # the same externalId raced us
        existing = Message.objects.filter(organization=org, external_id=external_id).values_list("id", flat=True)
        raise ApplicationError("External ID already processed", status_code=409, extra={"id": existing[0]}) from None
    wakeups.wake_after_commit(wakeups.FAN_OUT, message.pk)
    return message


# A schedule run's own fields; every other column of logs_message is the same for all runs.
RUN_FIELDS = (
    "organization_id", "user_id", "schedule_id", "types", "message", "subject", "media", "ivr", "shorten_links",
    "group_numbers", "where", "everyone", "segment_id", "content_sid", "content_variables",
)  # fmt: skip
RUN_DEFAULTS = {"voice_fallback": "false", "dnc_numbers": "'[]'::jsonb", "external_id": "''", "test": "false",
                "recipients": "0"}  # fmt: skip


def scheduled_blasts_create(runs: list[dict]) -> list[int]:
    """The Messages of many schedule runs at once (a tick's), each a blast like `POST /blasts`,
    woken for fan-out after commit (`_wake_fan_outs`). A run's content was checked when its
    schedule was saved; its recipients are its groups as they are at the fan-out.

    Each run is a dict of RUN_FIELDS."""
    ids = [message.pk for message in Message.objects.bulk_create([Message(**run) for run in runs])]
    _wake_fan_outs(ids)
    return ids


def scheduled_blasts_create_from(source: str, params: list) -> list[int]:
    """`scheduled_blasts_create` for PostgreSQL, in one statement with the caller's: `source` is
    a statement (a SELECT, or an UPDATE ... RETURNING) whose rows are runs with RUN_FIELDS as
    columns, run as a WITH clause of the INSERT. The tick claims, advances and fires its batch
    so, without a row through Python."""
    columns = ", ".join(map(connection.ops.quote_name, RUN_FIELDS))  # "where" is an SQL keyword
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH runs AS ({source}) "  # noqa: S608 (our SQL, params bound)
            f"INSERT INTO {Message._meta.db_table} ({columns}, {', '.join(RUN_DEFAULTS)}, created_at) "
            f"SELECT {columns}, {', '.join(RUN_DEFAULTS.values())}, %s FROM runs RETURNING id",
            [*params, timezone.now()],
        )
        ids = [row[0] for row in cursor.fetchall()]
    _wake_fan_outs(ids)
    return ids


def _wake_fan_outs(ids: list[int]) -> None:
    """At most SCHEDULE_FANOUT_TASKS fan-out tasks for the lot: publishing a task costs about a
    millisecond, a tick of thousands of runs would spend seconds on one task each."""
    if not ids:
        return
    chunk = -(-len(ids) // settings.SCHEDULE_FANOUT_TASKS)
    wakeups.wake_each_after_commit(wakeups.FAN_OUT_MANY, [[ids[i : i + chunk]] for i in range(0, len(ids), chunk)])


def _message_create(user: User, data: dict, **fields) -> Message:
    """The Message of a validated blast request; `fields` add what the kind of send sets."""
    return Message.objects.create(
        organization=user.organization,
        user=user,
        types=data["types"],
        message=data.get("message", ""),
        subject=data.get("subject", ""),
        media=data.get("media", []),
        ivr=data.get("ivr", False),
        shorten_links=data.get("shorten_links", False),
        content_sid=data.get("content_sid", ""),
        content_variables=data.get("content_variables", {}),
        **fields,
    )


def blast_test(*, user: User, data: dict) -> Message:
    """A blast to the calling user's own phone and email, nobody else."""
    org = user.organization
    metering.check_sending_allowed(org)
    plan = plan_for(data["types"], has_media=bool(data.get("media")), voice_fallback=False)
    targets = []
    for channel in plan.channels:
        address = user.email.lower() if channel == Kind.EMAIL else user.phone
        if not address:
            what = "email address" if channel == Kind.EMAIL else "phone number"
            raise ApplicationError(f"Your user has no {what} to send the {channel} test to.", field="types")
        targets.append((channel, address))
    blocked = set(
        BlocklistEntry.objects.filter(organization=org, recipient__in=[a for _, a in targets]).values_list(
            "recipient", flat=True
        )
    )
    if all(address in blocked for _, address in targets):
        raise ApplicationError("Your address is on the blocklist; nothing to send.", field="types")
    targets = [(channel, address) for channel, address in targets if address not in blocked]
    message = _message_create(user, data, test=True, fanned_out_at=timezone.now(), recipients=len(targets))
    Delivery.objects.bulk_create(Delivery(message=message, channel=channel, recipient=address)
                                 for channel, address in targets)  # fmt: skip
    wakeups.wake_after_commit(wakeups.DISPATCH, message.pk)
    return message


def unit_prices(text: str, channels) -> dict[str, tuple[Decimal, int]]:
    """Per channel, the price of one delivery and its SMS segments: the PRICE_* setting, times
    the segments of the text for SMS. Merge fields count as their fallback text (the shortest a
    rendered text can be). What the estimate shows, the fan-out charges and refunds give back."""
    segments = sms_info(rendering.render(text, {})).segments or 1
    prices = {}
    for channel in channels:
        unit = Decimal(str(getattr(settings, PRICE_SETTINGS[channel])))
        parts = segments if channel == Kind.SMS else 1
        prices[channel] = ((unit * parts).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP), parts)
    return prices


def estimate(*, user: User, data: dict) -> dict:
    """Recipients, SMS segments and cost per type for a blast, without sending it."""
    org = user.organization
    audience = audience_of(org, data)
    plan = plan_for(data["types"], has_media=data["has_media"], voice_fallback=data.get("voice_fallback", False))
    counts = count_recipients(audience, plan)
    info = sms_info(rendering.render(data.get("message", ""), {}))
    prices = unit_prices(data.get("message", ""), plan.channels)
    cost: dict[str, Decimal] = {channel: prices[channel][0] * recipients for channel, recipients in counts.items()}
    # Shown per requested type ("sms" with media is priced as the MMS it becomes); a channel
    # two types share (voice and audio) is counted once in the totals.
    by_type = {t: plan.channel_of(t) for t in data["types"]}
    if plan.voice_fallback_only:
        by_type.setdefault(Kind.VOICE, Kind.VOICE)
    extra = {}
    if plan.rcs:
        # The most the RCS sends can cost more: every handset without RCS gets the SMS fallback.
        fallback = Decimal(str(settings.PRICE_SMS)) * counts[Kind.RCS] * (info.segments or 1)
        extra["rcsFallback"] = {
            "recipients": counts[Kind.RCS],
            "cost": float(fallback.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)),
        }
    return {
        "recipients": {t: counts[channel] for t, channel in by_type.items()},
        "totalRecipients": sum(counts.values()),
        "segments": info.segments,
        "encoding": info.encoding,
        "characters": info.characters,
        "cost": {t: float(cost[channel]) for t, channel in by_type.items()},
        "total": float(sum(cost.values(), Decimal(0))),
        "currency": settings.PRICE_CURRENCY,
        **extra,
    }
