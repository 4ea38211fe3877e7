"""Writes for subscribers and the blocklist. Each runs in one transaction."""

from django.db import IntegrityError, transaction

from connext import changes
from connext.errors import ApplicationError
from connext.models import Organization
from groups.models import MAX_NUMBER, Group
from subscribers import attributes as custom
from subscribers.addresses import InvalidAddress, classify_recipient
from subscribers.models import BlocklistEntry, Subscriber


def groups_for_numbers(org: Organization, numbers: list[int], *, field: str = "groups") -> list[Group]:
    """The organization's groups with these numbers; an unknown number is a 400 naming `field`."""
    possible = {n for n in numbers if n <= MAX_NUMBER}  # the database cannot even compare larger ones
    found = {g.number: g for g in Group.objects.filter(organization=org, number__in=possible)}
    unknown = sorted(set(numbers) - set(found))
    if unknown:
        raise ApplicationError(f"Unknown group number(s): {', '.join(map(str, unknown))}.", field=field)
    return [found[n] for n in dict.fromkeys(numbers)]


def _check_unique(org: Organization, subscriber: Subscriber) -> None:
    others = Subscriber.objects.filter(organization=org).exclude(pk=subscriber.pk)
    if subscriber.phone and others.filter(phone=subscriber.phone).exists():
        raise ApplicationError(f"A subscriber with phone {subscriber.phone} already exists.", field="phone")
    if subscriber.email and others.filter(email=subscriber.email).exists():
        raise ApplicationError(f"A subscriber with email {subscriber.email} already exists.", field="email")


def _save(org: Organization, subscriber: Subscriber, given: frozenset = frozenset()) -> None:
    if not subscriber.phone and not subscriber.email:
        # Name what the request cleared (a PATCH of `email` alone), else `phone`.
        field = "email" if "email" in given and "phone" not in given else "phone"
        raise ApplicationError("A subscriber needs a phone or an email.", field=field)
    _check_unique(org, subscriber)
    try:
        with transaction.atomic():
            subscriber.save()
    except IntegrityError:  # a concurrent request took the phone or email first
        _check_unique(org, subscriber)
        raise


@transaction.atomic
def subscriber_create(*, organization: Organization, groups: list[int] | None = None, **fields) -> Subscriber:
    """Create a subscriber; `phone`/`email` already normalized, `groups` by number, `attributes`
    checked (subscribers.attributes.clean)."""
    members = groups_for_numbers(organization, groups or [])
    subscriber = Subscriber(organization=organization, **fields)
    _save(organization, subscriber)
    custom.remember(organization.pk, subscriber.attributes or {})
    if members:
        subscriber.groups.set(members)
    return subscriber


@transaction.atomic
def subscriber_update(*, subscriber: Subscriber, groups: list[int] | None = None, **fields) -> Subscriber:
    """Change the given fields; `groups`, when given, replaces the memberships; `attributes`,
    when given, are merged into the current ones (a None value removes that name)."""
    org = subscriber.organization
    members = groups_for_numbers(org, groups) if groups is not None else None
    if "attributes" in fields:
        try:
            fields["attributes"] = custom.merged(subscriber.attributes, fields["attributes"])
        except custom.InvalidAttributes as exc:
            raise ApplicationError(str(exc), field="attributes") from None
    for name, value in fields.items():
        setattr(subscriber, name, value)
    _save(org, subscriber, frozenset(fields))
    if "attributes" in fields:
        custom.remember(org.pk, fields["attributes"])
    if members is not None:
        subscriber.groups.set(members)
    return subscriber


def subscriber_delete(*, subscriber: Subscriber) -> None:
    subscriber.delete()


def parse_recipient(org: Organization, raw: str) -> tuple[str, str]:
    try:
        return classify_recipient(raw, org.default_region)
    except InvalidAddress as exc:
        raise ApplicationError(str(exc), field="recipient") from None


@transaction.atomic
def blocklist_add(
    *, organization: Organization, recipient: str, reason: str = BlocklistEntry.Reason.MANUAL
) -> BlocklistEntry:
    """Block a phone or email; idempotent.

    The recipient's own opt-out (STOP, bounce, complaint) outranks a manual block: it replaces
    the reason of a manual entry, so that the entry can no longer be removed through the API,
    and a manual block of an opted-out address keeps the opt-out's reason. Either way the
    entry remembers the manual block (`manual`): when the recipient opts back in (START), it
    falls back to it (`blocklist_lift_stop`)."""
    kind, address = parse_recipient(organization, recipient)
    manual = reason == BlocklistEntry.Reason.MANUAL
    entry, created = BlocklistEntry.objects.get_or_create(
        organization=organization, recipient=address, defaults={"type": kind, "reason": reason, "manual": manual}
    )
    if created:
        changes.announce([changes.BlocklistChanged(organization.pk, address, reason, blocked=True)])
        return entry
    entries = BlocklistEntry.objects.filter(pk=entry.pk)
    if manual and not entry.manual:
        entries.update(manual=True)
        entry.manual = True
    elif not manual and entry.reason == BlocklistEntry.Reason.MANUAL:
        # Conditional: a concurrent opt-out that got there first keeps its reason.
        if entries.filter(reason=BlocklistEntry.Reason.MANUAL).update(reason=reason, manual=True):
            changes.announce([changes.BlocklistChanged(organization.pk, address, reason, blocked=True)])
        entry.refresh_from_db()
    return entry


@transaction.atomic
def blocklist_lift_stop(*, phone: str, organizations) -> None:
    """The recipient texted START: their `stop` entries in these organizations go away, or
    fall back to the manual block they replaced. Bounces and complaints stay."""
    stops = BlocklistEntry.objects.filter(
        recipient=phone, reason=BlocklistEntry.Reason.STOP, organization__in=organizations
    )
    lifted = list(stops.select_for_update().values_list("organization_id", "manual"))
    stops.filter(manual=True).update(reason=BlocklistEntry.Reason.MANUAL)
    stops.filter(manual=False).delete()
    changes.announce(
        [
            changes.BlocklistChanged(org_id, phone, BlocklistEntry.Reason.MANUAL if manual else "stop", blocked=manual)
            for org_id, manual in lifted
        ]
    )


@transaction.atomic
def blocklist_remove(*, organization: Organization, recipient: str) -> None:
    """Unblock a manually blocked address; opt-outs (STOP, bounce, complaint) stay."""
    _, address = parse_recipient(organization, recipient)
    entry = BlocklistEntry.objects.select_for_update().filter(organization=organization, recipient=address).first()
    if entry is None:
        raise ApplicationError(f"{address} is not on the blocklist.", status_code=404)
    if entry.reason != BlocklistEntry.Reason.MANUAL:
        raise ApplicationError(
            f"{address} was blocked by the recipient ({entry.reason}); only manual entries can be removed.",
            field="recipient",
        )
    entry.delete()
    changes.announce([changes.BlocklistChanged(organization.pk, address, entry.reason, blocked=False)])
