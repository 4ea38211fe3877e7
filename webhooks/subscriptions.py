"""Which organizations have an active endpoint for which events, cached: the outbox listener
asks on every announced change (thousands a second on the callback path), and for almost all
of them the answer is "nobody listens", which must cost next to nothing.

Each process keeps the map in memory under a version number kept in the cache (Redis): an
endpoint write bumps the version after its commit, and every process reloads on the next change
it sees. With a per-process cache (no Redis) the map is also reloaded every MAX_AGE seconds.
"""

import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction

from webhooks.models import Endpoint

MAX_AGE = 5.0


@dataclass(frozen=True, slots=True)
class Subscriber:
    endpoint_id: int
    events: frozenset[str]


_memo: dict = {"version": None, "loaded": 0.0, "map": {}}


def _version_key() -> str:
    return f"connext-webhook-subscriptions:{connection.settings_dict['NAME']}"


def current() -> dict[int, list[Subscriber]]:
    """organization id -> its active endpoints and their events (empty: nobody subscribes)."""
    version = cache.get(_version_key())
    if version is None:
        cache.add(_version_key(), uuid.uuid4().hex, timeout=None)
        version = cache.get(_version_key())
    now = time.monotonic()
    if version != _memo["version"] or now - _memo["loaded"] > MAX_AGE:
        _memo.update(map=_load(), version=version, loaded=now)
    return _memo["map"]


def wanted(subscriptions: dict[int, list[Subscriber]], organization_id, event_type: str) -> list[int]:
    """The ids of the organization's endpoints subscribed to `event_type`."""
    return [s.endpoint_id for s in subscriptions.get(organization_id, ()) if event_type in s.events]


def changed() -> None:
    """An endpoint was written: every process reloads now (this one sees its own transaction's
    rows) and again once the transaction commits (another process may have reloaded the rows as
    they were before the commit)."""
    _bump()
    transaction.on_commit(_bump, robust=True)


def forget() -> None:
    """Drop this process's map (the test suite, whose rolled-back endpoints never commit)."""
    _memo.update(version=None, loaded=0.0, map={})


def _bump() -> None:
    cache.set(_version_key(), uuid.uuid4().hex, timeout=None)


def _load() -> dict[int, list[Subscriber]]:
    subscriptions: dict[int, list[Subscriber]] = {}
    rows = Endpoint.objects.live().filter(active=True).values_list("organization_id", "id", "events")
    for organization_id, endpoint_id, events in rows:
        subscriptions.setdefault(organization_id, []).append(Subscriber(endpoint_id, frozenset(events)))
    return subscriptions
