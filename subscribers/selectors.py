"""Reads for subscribers and the blocklist. Every function takes the organization first."""

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Prefetch, Q, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Coalesce, NullIf

from connext.models import Organization
from groups.models import Group
from subscribers.addresses import phone_digits
from subscribers.models import BlocklistEntry, ImportJob, Subscriber

# `sort` values of GET /subscribers; "recipient" is the phone, else the email.
SORT_KEYS = {
    "recipient": Coalesce(NullIf(F("phone"), Value("")), F("email")),
    "phone": F("phone"),
    "first": F("first"),
    "last": F("last"),
    "email": F("email"),
    "address": F("address"),
}
ORDERS = ("asc", "desc")


class AnyOf(Func):
    """`value = ANY(array)` (PostgreSQL)."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


class SearchText(Func):
    """first, last, phone, email and address joined by spaces: the indexed expression of migration 0003
    (`icontains` wraps it in UPPER(...::text), as the index does). Keep the two spelled alike."""

    template = "(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()

    def __init__(self):
        super().__init__(F("first"), F("last"), F("phone"), F("email"), F("address"))


def _indexable(text: str) -> bool:
    """pg_trgm finds trigrams in `text`: a run of at least 3 letters or digits."""
    return any(len(word) >= 3 for word in "".join(c if c.isalnum() else " " for c in text).split())


def with_blocked_flags(qs: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    """phone_blocked / email_blocked from the blocklist as it is now."""
    blocked = BlocklistEntry.objects.filter(organization_id=OuterRef("organization_id"))
    return qs.annotate(
        phone_blocked=Exists(blocked.filter(recipient=OuterRef("phone"))),
        email_blocked=Exists(blocked.filter(recipient=OuterRef("email"))),
    )


def subscriber_queryset(org: Organization) -> QuerySet[Subscriber]:
    """The organization's subscribers as the API shows them (groups, blocked flags)."""
    groups = Prefetch("groups", queryset=Group.objects.only("id", "number").order_by("number"))
    return with_blocked_flags(Subscriber.objects.filter(organization=org)).prefetch_related(groups)


def subscriber_search(
    org: Organization, *, keyword: str = "", group: int | None = None, sort: str = "", order: str = "asc"
) -> QuerySet[Subscriber]:
    qs = subscriber_queryset(org)
    keyword = keyword.strip()
    if keyword:
        match = (
            Q(first__icontains=keyword)
            | Q(last__icontains=keyword)
            | Q(email__icontains=keyword)
            | Q(address__icontains=keyword)
            | Q(phone__icontains=keyword)
        )
        # `near`: implied by `match` (a value found in a column is found in the columns joined), answered by
        # the one trigram index of migration 0003.
        near = Q(search__icontains=keyword)
        if " " in keyword:  # "Ada Lovelace"
            first, _, last = (part.strip() for part in keyword.partition(" "))
            match |= Q(first__icontains=first, last__icontains=last)
            # Both parts are in the joined text, for this arm and for the whole keyword (it holds them):
            # one index scan for the two. pg_trgm searches the parts with a 3-character run (one at least
            # whenever the index is used: the keyword has one, and the partition splits no run).
            parts = [part for part in (first, last) if _indexable(part)] or [first]
            near = Q(*(Q(search__icontains=part) for part in parts))
        digits = phone_digits(keyword)
        if digits:  # "(555) 123-4567" matches +15551234567
            match |= Q(phone__icontains=digits)
            near |= Q(search__icontains=digits)
        # pg_trgm indexes runs of 3 letters or digits: "an" can't use the trigram index.
        if connections[qs.db].vendor == "postgresql" and _indexable(keyword):
            # The index narrows (`near`), the exact conditions (`match`) decide. The matching ids are gathered
            # first, once, as an array (`id = ANY(ARRAY(...))`, an InitPlan): otherwise the planner, not
            # knowing how big the group filter is, may test the keyword on every member of a big group.
            matching = (
                Subscriber.objects.filter(organization=org)
                .alias(search=SearchText())
                .filter(near)
                .filter(match)
                .order_by()
                .values("id")
            )
            qs = qs.filter(AnyOf(F("id"), ArraySubquery(matching)))
        else:
            qs = qs.filter(match)
    if group is not None:
        # Members through the group's id: counting through a join on the number made PostgreSQL
        # walk every membership row of the organization.
        # The id comes from a scalar subquery (an InitPlan), not a query of its own: one round trip less.
        group_id = Subquery(Group.objects.filter(organization=org, number=group).values("id")[:1])
        qs = qs.filter(id__in=Subscriber.groups.through.objects.filter(group_id=group_id).values("subscriber_id"))
    key = SORT_KEYS.get(sort or "", F("id"))
    ordering = key.desc() if order == "desc" else key.asc()
    return qs.order_by(ordering, "id" if order != "desc" else "-id")


def subscriber_group_numbers(subscriber_ids: list[int]) -> dict[int, str]:
    """{subscriber id: "1 4 7"}: group numbers of these subscribers (of one organization, so are
    their groups), for the CSV export."""
    numbers: dict[int, list[str]] = {}
    memberships = (
        Subscriber.groups.through.objects.filter(subscriber_id__in=subscriber_ids)
        .order_by("group__number")
        .values_list("subscriber_id", "group__number")
    )
    for subscriber_id, number in memberships:
        numbers.setdefault(subscriber_id, []).append(str(number))
    return {subscriber_id: " ".join(found) for subscriber_id, found in numbers.items()}


def blocklist(org: Organization) -> QuerySet[BlocklistEntry]:
    return BlocklistEntry.objects.filter(organization=org)


def import_job_get(org: Organization, job_id: int) -> ImportJob | None:
    return ImportJob.objects.filter(organization=org, pk=job_id).first()
