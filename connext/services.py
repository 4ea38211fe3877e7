"""Writes for organizations and their users."""

from django.contrib.auth.models import Group as AuthGroup
from django.db import transaction

from connext import roles
from connext.models import Organization, User


@transaction.atomic
def organization_create(
    *, name: str, timezone: str = "UTC", default_region: str = "US", billed: bool = False
) -> Organization:
    org = Organization(name=name, timezone=timezone, default_region=default_region, billed=billed)
    org.full_clean()
    org.save()
    return org


@transaction.atomic
def user_create(
    *,
    organization: Organization,
    email: str,
    role: str = roles.ORG_ADMIN,
    password: str | None = None,
    phone: str = "",
) -> User:
    """Create a user of `organization` with one role; org admins are staff (admin panel)."""
    user = User(
        organization=organization,
        email=email.lower(),
        username=email.lower(),
        phone=phone,
        is_staff=role == roles.ORG_ADMIN,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    group = AuthGroup.objects.filter(name=role).first()
    if group is None:  # roles are made by migrate; a flushed database may lack them
        roles.sync_roles()
        group = AuthGroup.objects.get(name=role)
    user.groups.add(group)
    return user
