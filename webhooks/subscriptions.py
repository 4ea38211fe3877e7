"""Which organizations have an active endpoint for which events, cached: the outbox listener
asks on every announced change (thousands a second on the callback path), and for almost all
of them the answer is "nobody listens", which must cost next to nothing.

Each process keeps the map in memory under a version kept in Redis (webhooks.store): an
endpoint write bumps the version, and every process reloads on the next change it sees. Without
Redis (a per-process cache) the map is also reloaded every MAX_AGE seconds.
"""

import time
import uuid
from dataclasses import dataclass

from django.db import connection, transaction

from webhooks import store
from webhooks.models import Endpoint

MAX_AGE = 5.0
VERSION_SECONDS = 30 * 24 * 3600.0  # a version nobody bumped for a month starts again


@dataclass(frozen=True, slots=True)
class Subscriber:
    endpoint_id: int
    events: frozenset[str]


_memo: dict = {"version": None, "loaded": 0.0, "map": {}}


def _version_key() -> str:
    return f"connext-webhook-subscriptions:{connection.settings_dict['NAME']}"


def current() -> dict[int, list[Subscriber]]:
    """organization id -> its active endpoints and their events (empty: nobody subscribes)."""
    version = store.get(_version_key())
    if version is None:
        store.add(_version_key(), uuid.uuid4().hex, VERSION_SECONDS)
        version = store.get(_version_key())
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
    store.put(_version_key(), uuid.uuid4().hex)


def _load() -> dict[int, list[Subscriber]]:
    subscriptions: dict[int, list[Subscriber]] = {}
    rows = Endpoint.objects.live().filter(active=True).values_list("organization_id", "id", "events")
    for organization_id, endpoint_id, events in rows:
        subscriptions.setdefault(organization_id, []).append(Subscriber(endpoint_id, frozenset(events)))
    return subscriptions
