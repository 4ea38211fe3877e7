"""Reads for API keys: the lookup behind every authenticated request."""

import datetime
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apikeys.models import APIKey, hash_key
from connext.db import run_prepared
from connext.models import Organization, User


def _columns(model, wanted: set[str]) -> list[str]:
    # Model.from_db() takes a partial row in the model's own field order.
    return [f.attname for f in model._meta.concrete_fields if f.attname in wanted]


_KEY_FIELDS = _columns(
    APIKey, {"id", "user_id", "organization_id", "name", "scope", "key_hash", "active", "expires_at", "last_used_at"}
)
_USER_FIELDS = _columns(User, {"id", "email", "username", "is_active", "is_staff", "is_superuser", "organization_id"})
_ORG_FIELDS = _columns(Organization, {"id", "name", "timezone", "default_region", "rate_limit"})

# One round trip for the key, its user, the organization and the user's permissions
# (through roles and direct grants, aggregated into one string): the ORM needs four
# queries here, and this runs on every request. Driven by the unique key_hash index.
_COLUMNS = ", ".join(
    [f"k.{f}" for f in _KEY_FIELDS] + [f"u.{f}" for f in _USER_FIELDS] + [f"o.{f}" for f in _ORG_FIELDS]
)
_AUTH_SQL = f"""
SELECT {_COLUMNS}, (
    SELECT {{aggregate}}(ct.app_label || '.' || p.codename, ',')
    FROM auth_permission p
    JOIN django_content_type ct ON ct.id = p.content_type_id
    WHERE p.id IN (
        SELECT gp.permission_id FROM connext_user_groups ug
        JOIN auth_group_permissions gp ON gp.group_id = ug.group_id WHERE ug.user_id = u.id
        UNION
        SELECT up.permission_id FROM connext_user_user_permissions up WHERE up.user_id = u.id
    )
)
FROM apikeys_apikey k
JOIN connext_user u ON u.id = k.user_id
JOIN connext_organization o ON o.id = k.organization_id
WHERE k.key_hash = %s
"""  # noqa: S608 (column names come from model metadata; the key hash is a parameter)
_AGGREGATE = {"postgresql": "string_agg", "sqlite": "group_concat"}


def _auth_rows(digest: str) -> list[tuple]:
    # PostgreSQL spends ~2 ms planning this join and well under 0.5 ms running it: prepared.
    sql = _AUTH_SQL.format(aggregate=_AGGREGATE[connection.vendor])
    return run_prepared(sql, [digest], lambda cursor: cursor.fetchall())


@dataclass
class KeyOwner:
    key: APIKey
    user: User


def _aware(value):
    """Raw SQLite rows carry datetimes as naive UTC strings; PostgreSQL gives aware datetimes."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, datetime.datetime) and timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value


def key_owner_for_token(token: str) -> KeyOwner | None:
    """The API key of `token` with its user (permissions preloaded) and organization, or None.

    Instances carry the columns read here; any other field loads lazily if touched.
    """
    rows = _auth_rows(hash_key(token))
    if not rows:
        return None
    first = rows[0]
    permissions = first[-1]
    n_key, n_user = len(_KEY_FIELDS), len(_USER_FIELDS)
    key_values = list(first[:n_key])
    key_values[_KEY_FIELDS.index("expires_at")] = _aware(key_values[_KEY_FIELDS.index("expires_at")])
    key_values[_KEY_FIELDS.index("last_used_at")] = _aware(key_values[_KEY_FIELDS.index("last_used_at")])
    key = APIKey.from_db(connection.alias, _KEY_FIELDS, key_values)
    user = User.from_db(connection.alias, _USER_FIELDS, first[n_key : n_key + n_user])
    org = Organization.from_db(connection.alias, _ORG_FIELDS, first[n_key + n_user : -1])
    key.active = bool(key.active)  # SQLite answers 0/1
    user.is_active, user.is_staff, user.is_superuser = (
        bool(user.is_active),
        bool(user.is_staff),
        bool(user.is_superuser),
    )
    # ModelBackend reads this cache instead of running its two permission queries.
    user._perm_cache = set(permissions.split(",")) if permissions else set()
    key.user = user
    key.organization = org
    if user.organization_id == org.pk:
        user.organization = org
    return KeyOwner(key=key, user=user)
