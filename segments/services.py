"""Writes of segments, each in one transaction. What a segment names must exist when it is saved:
its group numbers, and attributes the organization uses (a 400 naming the field otherwise); they
are resolved again when a blast fans out."""

from django.db import transaction

from connext.errors import ApplicationError
from connext.models import Organization
from segments.models import Segment
from subscribers import attributes
from subscribers.services import groups_for_numbers


def check_filter(org: Organization, *, group_numbers=None, where=None) -> None:
    """The groups exist and the attributes are used by the organization; else an ApplicationError."""
    if group_numbers:
        groups_for_numbers(org, group_numbers, field="groups")
    if where:
        try:
            attributes.parse_where(where, org.pk, field="where")
        except attributes.InvalidFilter as exc:
            raise ApplicationError(exc.message, field=exc.field) from None


@transaction.atomic
def segment_create(*, organization: Organization, name: str, **fields) -> Segment:
    check_filter(organization, group_numbers=fields.get("group_numbers"), where=fields.get("where"))
    return Segment.objects.create(organization=organization, name=name, **fields)


@transaction.atomic
def segment_update(*, segment: Segment, **fields) -> Segment:
    check_filter(segment.organization, group_numbers=fields.get("group_numbers"), where=fields.get("where"))
    for name, value in fields.items():
        setattr(segment, name, value)
    segment.save()
    return segment


def segment_delete(*, segment: Segment) -> None:
    """Blasts and schedules that named it keep its id: one that fans out after the delete
    reaches nobody."""
    segment.delete()
