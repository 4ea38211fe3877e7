from django.db.models import QuerySet

from connext.models import Organization
from groups.models import Group


def group_list(org: Organization) -> QuerySet[Group]:
    return Group.objects.filter(organization=org).order_by("number")


def groups_by_number(org: Organization, numbers: list[int]) -> dict[int, Group]:
    return {g.number: g for g in Group.objects.filter(organization=org, number__in=set(numbers))}
