"""Which organizations have an active endpoint for which events, cached: the outbox listener
asks on every announced change (thousands a second on the callback path), and for almost all
of them the answer is "nobody listens", which must cost next to nothing.

Each process keeps the map in memory. An endpoint write bumps a version kept in Redis
(webhooks.store) and publishes it; a thread in each process listens and marks the map stale,
so asking costs no round trip at all while the listener is subscribed. Until it is (or while
Redis is away) the version is read on every ask, as before the listener; without Redis (a
per-process cache) the map is also reloaded every MAX_AGE seconds.
"""

import contextlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass

import redis
from django.db import connection, transaction

from webhooks import store
from webhooks.models import Endpoint

logger = logging.getLogger(__name__)

MAX_AGE = 5.0
LISTENING_MAX_AGE = 60.0  # with change notices, a reload this often all the same (a safety net)
VERSION_SECONDS = 30 * 24 * 3600.0  # a version nobody bumped for a month starts again
RELISTEN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Subscriber:
    endpoint_id: int
    events: frozenset[str]


_memo: dict = {"version": None, "loaded": 0.0, "map": {}, "types": frozenset()}  # types: wanted by anyone
# The change-notice listener of this process: `notices` counts what it heard (a notice, a
# (re)subscription, a lost connection), `live` is whether it is subscribed now.
_listener: dict = {"pid": None, "live": False, "notices": 0}


def _version_key() -> str:
    return f"connext-webhook-subscriptions:{connection.settings_dict['NAME']}"


def current() -> dict[int, list[Subscriber]]:
    """organization id -> its active endpoints and their events (empty: nobody subscribes)."""
    now = time.monotonic()
    if _listening():
        version = ("notices", _listener["notices"])  # read before the load: a notice during it reloads
        if version != _memo["version"] or now - _memo["loaded"] > LISTENING_MAX_AGE:
            _memo.update(_load(), version=version, loaded=now)
        return _memo["map"]
    version = _stored_version()
    if version is None or version != _memo["version"] or now - _memo["loaded"] > MAX_AGE:
        _memo.update(_load(), version=version, loaded=now)
    return _memo["map"]


def any_wants(event_type: str) -> bool:
    """Whether some active endpoint, of any organization, wants `event_type`."""
    current()
    return event_type in _memo["types"]


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
    _memo.update(version=None, loaded=0.0, map={}, types=frozenset())


def _bump() -> None:
    _memo["version"] = None  # this process at once, not when its listener hears the notice
    store.put(_version_key(), uuid.uuid4().hex, notify=_version_key())


def _stored_version() -> str | None:
    """The version in Redis (set when missing); None when Redis does not answer (reload by age)."""
    try:
        version = store.get(_version_key())
        if version is None:
            store.add(_version_key(), uuid.uuid4().hex, VERSION_SECONDS)
            version = store.get(_version_key())
    except redis.RedisError:
        return _memo["version"]  # keep the map until MAX_AGE
    return version


def _load() -> dict:
    """The memo's map and the set of event types anyone wants, from the database."""
    subscriptions: dict[int, list[Subscriber]] = {}
    types: set[str] = set()
    rows = Endpoint.objects.live().filter(active=True).values_list("organization_id", "id", "events")
    for organization_id, endpoint_id, events in rows:
        subscriptions.setdefault(organization_id, []).append(Subscriber(endpoint_id, frozenset(events)))
        types.update(events)
    return {"map": subscriptions, "types": frozenset(types)}


# -- the change-notice listener ------------------------------------------------------------------


def _listening() -> bool:
    """Whether this process hears change notices; starts its listener on the first ask (and in a
    forked child, which inherits the flags but not the thread)."""
    pid = os.getpid()
    if _listener["pid"] != pid:
        _listener.update(pid=pid, live=False)
        if store.listen_available():
            channel = _version_key()
            threading.Thread(target=_listen, args=(channel, pid), name="webhook-subscriptions", daemon=True).start()
    return _listener["live"]


def _listen(channel: str, pid: int) -> None:
    while _listener["pid"] == pid:
        pubsub = None
        try:
            pubsub = store.listen(channel)
            while _listener["pid"] == pid:
                message = pubsub.get_message(timeout=5.0)
                if message is None:
                    continue
                _listener["notices"] += 1  # the subscription itself, or a bump: reload
                if message["type"] == "subscribe":
                    _listener["live"] = True
        except Exception:  # Redis away: asks read the version until it is back
            logger.warning("webhook subscription notices interrupted; reconnecting", exc_info=True)
        finally:
            _listener["live"] = False
            _listener["notices"] += 1
            if pubsub is not None:
                with contextlib.suppress(Exception):  # closing a dead connection
                    pubsub.close()
        time.sleep(RELISTEN_SECONDS)
