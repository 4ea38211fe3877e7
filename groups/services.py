"""Writes for groups. Numbers are unique per organization, auto-assigned from 1."""

from django.db import IntegrityError, transaction
from django.db.models import Max

from connext.errors import ApplicationError
from connext.models import Organization
from groups.models import MAX_NUMBER, Group


def _number_taken(number: int) -> ApplicationError:
    return ApplicationError(f"Group number {number} is already in use.", field="number")


@transaction.atomic
def group_create(*, organization: Organization, name: str, number: int | None = None, private: bool = False) -> Group:
    """Create a group; without `number`, the next free one (max + 1, so numbers never recycle mid-list)."""
    if number is None:
        # Lock the organization row so two concurrent creates don't pick the same number.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        highest = Group.objects.filter(organization=organization).aggregate(m=Max("number"))["m"] or 0
        if highest >= MAX_NUMBER:  # max + 1 would not fit the column
            raise ApplicationError(
                f"The highest group number, {MAX_NUMBER}, is taken, so none can be assigned after it: give one.",
                field="number",
            )
        number = highest + 1
    try:
        with transaction.atomic():
            return Group.objects.create(organization=organization, name=name, number=number, private=private)
    except IntegrityError:
        raise _number_taken(number) from None


@transaction.atomic
def group_update(*, group: Group, **fields) -> Group:
    for name, value in fields.items():
        setattr(group, name, value)
    try:
        with transaction.atomic():
            group.save(update_fields=list(fields) or None)
    except IntegrityError:
        raise _number_taken(group.number) from None
    return group


def group_delete(*, group: Group) -> None:
    group.delete()
