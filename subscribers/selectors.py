"""Reads for subscribers and the blocklist. Every function takes the organization first."""

import functools
import operator

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower, NullIf, Upper

from connext.models import Organization
from groups.models import Group
from subscribers import attributes
from subscribers.addresses import phone_digits
from subscribers.models import BlocklistEntry, Subscriber

# `sort` values of GET /subscribers; "recipient" is the phone, else the email.
SORT_KEYS = {
    "recipient": Coalesce(NullIf(F("phone"), Value("")), F("email")),
    "phone": F("phone"),
    "first": Lower("first"),  # names sort as people read them: "aaron" before "Zed"
    "last": Lower("last"),
    "email": F("email"),  # stored lower-case
    "address": Lower("address"),
}
ORDERS = ("asc", "desc")


class AnyOf(Func):
    """`value = ANY(array)` (PostgreSQL)."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def _indexable(text: str) -> bool:
    """pg_trgm finds trigrams in `text`: a run of at least 3 letters or digits."""
    return any(len(word) >= 3 for word in "".join(c if c.isalnum() else " " for c in text).split())


def _contains(text: str | Upper) -> Q:
    """`search_text LIKE '%text%'` (LIKE wildcards in `text` are escaped), which its trigram index answers."""
    return Q(search_text__contains=text)


def _keyword_condition(keyword: str) -> Q:
    """The keyword is in the subscriber's search text (first, last, phone digits, email, address: see
    Subscriber.search_text), in any letter case; or its phone digits ("(555) 123-4567" matches +15551234567);
    or, for "first last", the first part is in the first name and the second in the last name ("Ad Lovelace").

    Upper-cased in SQL, as the column is (the same upper() on both sides); PostgreSQL folds the constant before
    planning, so the trigram index on search_text (migration 0004) finds the candidates of every arm."""
    whole = _contains(Upper(Value(keyword)))
    arms = [whole]
    if " " in keyword:  # "Ada Lovelace" is in the search text; "Ad Lovelace" needs the per-column arm
        first, _, last = (part.strip() for part in keyword.partition(" "))
        # Both parts are in the search text: the index narrows with them (pg_trgm needs a run of 3 letters
        # or digits; one part at least has one whenever the keyword has one, the partition splits no run).
        parts = [_contains(Upper(Value(part))) for part in (first, last) if _indexable(part)]
        arms.append(Q(*parts, first__icontains=first, last__icontains=last))
    digits = phone_digits(keyword)
    if digits:
        arms.append(_contains(digits))
    return functools.reduce(operator.or_, arms)


def keyword_ids_sql(organization_id: int, keyword: str) -> tuple[str, list]:
    """SQL selecting the ids of the organization's subscribers that the keyword of GET /subscribers
    finds (a saved segment's keyword, inside a fan-out's INSERT ... SELECT), with its params."""
    matching = Subscriber.objects.filter(_keyword_condition(keyword), organization_id=organization_id)
    sql, params = matching.order_by().values("id").query.sql_with_params()
    return sql, list(params)


def with_blocked_flags(qs: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    """phone_blocked / email_blocked from the blocklist as it is now."""
    blocked = BlocklistEntry.objects.filter(organization_id=OuterRef("organization_id"))
    return qs.annotate(
        phone_blocked=Exists(blocked.filter(recipient=OuterRef("phone"))),
        email_blocked=Exists(blocked.filter(recipient=OuterRef("email"))),
    )


def subscriber_queryset(org: Organization) -> QuerySet[Subscriber]:
    """The organization's subscribers as the API shows them (blocked flags; not the search text).
    A list page then gets its groups with `with_group_numbers`."""
    subscribers = Subscriber.objects.filter(organization=org).defer("search_text")
    return with_blocked_flags(subscribers)


def with_attributes(qs: QuerySet[Subscriber], where: dict[str, list] | None) -> QuerySet[Subscriber]:
    """Only the subscribers whose attributes match a parsed filter (subscribers.attributes.parse_where):
    on PostgreSQL `attributes @> ...`, which the GIN index answers."""
    if not where:
        return qs
    sql, params = attributes.condition_sql(connections[qs.db].ops.quote_name(Subscriber._meta.db_table), where,
                                           connections[qs.db].vendor)  # fmt: skip
    return qs.extra(where=[sql], params=params)  # noqa: S610 (our SQL, every value a parameter)


def subscriber_search(
    org: Organization,
    *,
    keyword: str = "",
    group: int | None = None,
    sort: str = "",
    order: str = "asc",
    where: dict[str, list] | None = None,
) -> QuerySet[Subscriber]:
    """The organization's subscribers matching a keyword, a group (number) and a parsed attribute
    filter, in the order asked for."""
    qs = with_attributes(subscriber_queryset(org), where)
    keyword = keyword.strip()
    group_id = None
    if group is not None:
        # The group's id from a scalar subquery (an InitPlan), not a query of its own: one round trip less.
        group_id = Subquery(Group.objects.filter(organization=org, number=group).values("id")[:1])
    if keyword and connections[qs.db].vendor == "postgresql" and _indexable(keyword):
        # The matching ids first, once, as an array (`id = ANY(ARRAY(...))`, an InitPlan): the trigram index
        # finds the candidates, each is checked with a LIKE on its stored search_text and, with a group, by one
        # probe of the membership index (a correlated subquery: the planner can't turn it into a join).
        # Left to itself, the planner doesn't know the group's size nor that COUNT(*) OVER () reads every match
        # before the LIMIT: it walked the primary key over the whole table (~100 ms for 100k subscribers).
        matching = Subscriber.objects.filter(_keyword_condition(keyword))
        if group_id is not None:
            # The organization's group holds only its subscribers (the page query checks the organization too).
            member = Subscriber.groups.through.objects.filter(subscriber_id=OuterRef("id"), group_id=group_id)
            matching = matching.alias(member=Subquery(member.values("subscriber_id")[:1])).filter(member__isnull=False)
        else:
            matching = matching.filter(organization=org)
        return _ordered(qs.filter(AnyOf(F("id"), ArraySubquery(matching.order_by().values("id")))), sort, order)
    if keyword:  # without a 3-character run ("an") pg_trgm can't narrow: the LIKE reads the organization's rows
        qs = qs.filter(_keyword_condition(keyword))
    if group_id is not None:
        # Members through the group's id: counting through a join on the number made PostgreSQL
        # walk every membership row of the organization.
        qs = qs.filter(id__in=Subscriber.groups.through.objects.filter(group_id=group_id).values("subscriber_id"))
    return _ordered(qs, sort, order)


def _ordered(qs: QuerySet[Subscriber], sort: str, order: str) -> QuerySet[Subscriber]:
    key = SORT_KEYS.get(sort or "", F("id"))
    ordering = key.desc() if order == "desc" else key.asc()
    return qs.order_by(ordering, "id" if order != "desc" else "-id")


def subscriber_group_numbers(subscriber_ids: list[int]) -> dict[int, list[int]]:
    """{subscriber id: [1, 4, 7]}: group numbers of these subscribers (of one organization, so are
    their groups), in one query: for a list page and the CSV export, instead of a related
    manager per row."""
    numbers: dict[int, list[int]] = {}
    memberships = (
        Subscriber.groups.through.objects.filter(subscriber_id__in=subscriber_ids)
        .order_by("group__number")
        .values_list("subscriber_id", "group__number")
    )
    for subscriber_id, number in memberships:
        numbers.setdefault(subscriber_id, []).append(number)
    return numbers


def with_group_numbers(subscribers: list[Subscriber]) -> list[Subscriber]:
    """Sets `group_numbers` on each subscriber of a page (read by the serializer's `groups`)."""
    numbers = subscriber_group_numbers([s.pk for s in subscribers])
    for subscriber in subscribers:
        subscriber.group_numbers = numbers.get(subscriber.pk, [])
    return subscribers


def blocklist(org: Organization) -> QuerySet[BlocklistEntry]:
    return BlocklistEntry.objects.filter(organization=org)
