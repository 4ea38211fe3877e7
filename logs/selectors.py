"""Reads of the logs: messages with their counts, deliveries, stats, all computed in the database."""

from django.db import connection
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, Sum, TextField, Value
from django.db.models.functions import Coalesce, NullIf

from connext.errors import ApplicationError
from connext.models import Organization
from logs.models import Delivery, Kind, Message, MessageCount, Reply

STATUSES = [choice.value for choice in Delivery.Status]
STATUS_FILTERS = [*STATUSES, "clicked"]


def message_queryset(org: Organization, keyword: str = "", schedule: int | None = None) -> QuerySet[Message]:
    """`GET /logs`: the organization's messages, newest first; `keyword` on username or message,
    `schedule` the runs of one schedule."""
    qs = Message.objects.filter(organization=org).select_related("user").order_by("-created_at", "-id")
    if schedule is not None:
        qs = qs.filter(schedule_id=schedule)
    keyword = keyword.strip()
    if keyword:
        qs = qs.filter(
            Q(message__icontains=keyword) | Q(user__email__icontains=keyword) | Q(user__username__icontains=keyword)
        )
    return qs


def _counted() -> bool:
    """PostgreSQL keeps running totals per message (triggers, logs migration 0005)."""
    return connection.vendor == "postgresql"


def counts_by_message(message_ids: list[int]) -> dict[int, dict[str, int]]:
    """{message id: {status: n, ..., "clicks": n}} for a page of messages, in one query."""
    out: dict[int, dict[str, int]] = {pk: dict.fromkeys([*STATUSES, "clicks"], 0) for pk in message_ids}
    if _counted():
        wanted = [*STATUSES, "clicks"]
        totals = (
            MessageCount.objects.filter(message_id__in=message_ids, key__in=wanted)
            .values("message_id", "key")
            .annotate(total=Sum("n"))
            .order_by()
        )
        for row in totals:
            out[row["message_id"]][row["key"]] = row["total"]
        return out
    rows = (
        Delivery.objects.filter(message_id__in=message_ids)
        .values("message_id", "status")
        .annotate(n=Count("id"), total_clicks=Sum("clicks"))
        .order_by()
    )
    for row in rows:
        counts = out[row["message_id"]]
        counts[row["status"]] = row["n"]
        counts["clicks"] += row["total_clicks"] or 0
    return out


def delivery_queryset(message: Message, *, keyword: str = "", status: str = "") -> QuerySet[Delivery]:
    """`GET /logs/{id}`: one row per recipient and channel, with its latest reply (for an ivr
    call, the key pressed)."""
    if status and status not in STATUS_FILTERS:
        raise ApplicationError(f"Must be one of {', '.join(STATUS_FILTERS)}.", field="status")
    latest_reply = Reply.objects.filter(delivery=OuterRef("pk")).order_by("-created_at", "-id").values("body")[:1]
    qs = Delivery.objects.filter(message=message).order_by("id")
    if status == "clicked":
        qs = qs.filter(clicks__gt=0)
    elif status:
        qs = qs.filter(status=status)
    keyword = keyword.strip()
    if keyword:
        qs = qs.filter(recipient__icontains=keyword)
    # A call has no text reply: its `reply` is the key pressed (ivr), when there is one.
    reply = Coalesce(Subquery(latest_reply), NullIf("digits", Value("")), output_field=TextField())
    return qs.annotate(reply=reply).only(
        "id", "recipient", "channel", "status", "error_code", "error_message", "provider_id", "sent_at",
        "delivered_at", "clicks", "fallback",
    )  # fmt: skip


def message_stats(message: Message) -> dict:
    """`GET /logs/{id}/stats`: counts per status, failures grouped by error code, clicks.

    PostgreSQL: one read of the message's running totals. SQLite: grouped queries. With rcs, the
    sends that fell back to SMS are counted too (`fallbacks`)."""
    if _counted():
        return {**_stats_from_counts(message), "fallbacks": fallback_counts(message)}
    statuses = dict.fromkeys(STATUSES, 0)
    clicked = clicks = 0
    rows = (
        Delivery.objects.filter(message=message)
        .values("status")
        .annotate(n=Count("id"), total_clicks=Sum("clicks"), clicked=Count("id", filter=Q(clicks__gt=0)))
        .order_by()
    )
    for row in rows:
        statuses[row["status"]] = row["n"]
        clicks += row["total_clicks"] or 0
        clicked += row["clicked"]
    errors = {}
    failed = Delivery.objects.filter(message=message, status=Delivery.Status.FAILED)
    for row in failed.values("error_code").annotate(count=Count("id"), message=Max("error_message")).order_by():
        errors[row["error_code"]] = (row["count"], row["message"])
    return {**_stats(statuses, clicked, clicks, errors), "fallbacks": fallback_counts(message)}


def fallback_counts(message: Message) -> dict[str, int]:
    """{channel: n}: the message's sends another channel carried (RCS sends that went as "sms").
    Counted from its rcs rows, and only when it has rcs: a message of other types has none."""
    if Kind.RCS not in (message.types or []):
        return {}
    rows = Delivery.objects.filter(message=message, channel=Kind.RCS).exclude(fallback="")
    return dict(rows.values_list("fallback").annotate(n=Count("id")).order_by().values_list("fallback", "n"))


def _stats_from_counts(message: Message) -> dict:
    statuses = dict.fromkeys(STATUSES, 0)
    totals = {"clicks": 0, "clicked": 0}
    errors = {}
    shards = MessageCount.objects.filter(message=message).values("key").annotate(total=Sum("n"), text=Max("label"))
    for key, n, label in shards.order_by().values_list("key", "total", "text"):
        if n <= 0:
            continue
        if key.startswith("error:"):
            errors[key.removeprefix("error:")] = (n, label)
        elif key in statuses:
            statuses[key] = n
        else:
            totals[key] = n
    return _stats(statuses, totals["clicked"], totals["clicks"], errors)


def _stats(statuses: dict, clicked: int, clicks: int, errors: dict[str, tuple[int, str]]) -> dict:
    ranked = sorted(errors.items(), key=lambda item: (-item[1][0], item[0]))
    return {
        "statuses": {**statuses, "clicked": clicked},
        "errors": [{"code": code, "message": text, "count": n} for code, (n, text) in ranked],
        "clicks": clicks,
    }


class WithKnownTotal:
    """A delivery queryset whose total the message's running totals already know (PostgreSQL,
    no keyword): the paginator's count() reads it instead of counting up to millions of rows."""

    def __init__(self, queryset: QuerySet[Delivery], total: int):
        self.queryset = queryset
        self.total = total

    def __getitem__(self, window: slice) -> list[Delivery]:
        return list(self.queryset[window])

    def count(self) -> int:
        return self.total


def paginable_deliveries(message: Message, *, keyword: str = "", status: str = ""):
    """`delivery_queryset`, with its total from the running totals when they can answer."""
    queryset = delivery_queryset(message, keyword=keyword, status=status)
    if keyword.strip() or not _counted():
        return queryset
    keys = [status] if status else STATUSES
    total = sum(MessageCount.objects.filter(message=message, key__in=keys).values_list("n", flat=True))
    return WithKnownTotal(queryset, total)
