"""Roles are Django auth groups with permissions; a user's API key acts with them.

`sync_roles` (run after every migrate) grants each role exactly the permissions
listed here, so a model added by a later app joins its roles automatically.
"""

from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission

ORG_ADMIN = "Org admin"
SENDER = "Sender"
VIEWER = "Viewer"

# The apps whose models make up an organization's data.
DATA_APPS = ["groups", "subscribers", "segments", "blasts", "schedules", "logs", "devices", "webhooks", "accounts"]

# role -> (apps with every permission, apps with view only, extra "app.codename")
ROLE_PERMISSIONS: dict[str, tuple[list[str], list[str], list[str]]] = {
    ORG_ADMIN: (
        [*DATA_APPS, "apikeys"],
        [],
        [
            "connext.view_organization",
            "connext.change_organization",
            "connext.view_user",
            "connext.add_user",
            "connext.change_user",
            "connext.delete_user",
        ],
    ),
    SENDER: (
        ["groups", "subscribers", "segments", "blasts", "schedules"],
        ["logs", "devices", "webhooks", "accounts"],
        [],
    ),
    VIEWER: ([], DATA_APPS, []),
}


def role_permissions(role: str):
    full_apps, view_apps, extra = ROLE_PERMISSIONS[role]
    perms = Permission.objects.filter(content_type__app_label__in=full_apps)
    perms |= Permission.objects.filter(content_type__app_label__in=view_apps, codename__startswith="view_")
    for name in extra:
        app_label, codename = name.split(".")
        perms |= Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    return perms


def sync_roles(**kwargs) -> None:
    """Create the role groups and set their permissions. Idempotent."""
    for role in ROLE_PERMISSIONS:
        group, _ = AuthGroup.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))
