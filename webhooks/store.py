"""The small shared state of webhooks (the subscriptions' version and its change notices, the
wake-up flags) in Redis, through one redis-py client per process: Django's Redis cache builds a
new client object per call (~0.3 ms, more than the round trip). Without Redis (the embedded
mode), Django's cache (per process) stands in, and there are no notices."""

import os

import redis
from django.conf import settings
from django.core.cache import cache

_client: dict = {"pid": None, "redis": None}


def _redis() -> redis.Redis | None:
    if not settings.REDIS_URL:
        return None
    if _client["pid"] != os.getpid():  # a forked child: its own connections
        _client.update(pid=os.getpid(), redis=redis.Redis.from_url(settings.REDIS_URL))
    return _client["redis"]


def get(key: str) -> str | None:
    client = _redis()
    if client is None:
        return cache.get(key)
    value = client.get(key)
    return value.decode() if value is not None else None


def put(key: str, value: str, *, notify: str | None = None) -> None:
    """Set `key`; with `notify`, also publish `value` on that channel (in the same round trip)."""
    client = _redis()
    if client is None:
        cache.set(key, value, timeout=None)
    elif notify is None:
        client.set(key, value)
    else:
        client.pipeline(transaction=False).set(key, value).publish(notify, value).execute()


def listen_available() -> bool:
    """Whether change notices can be heard (Redis is configured)."""
    return bool(settings.REDIS_URL)


def listen(channel: str):
    """A subscription to `channel` on a connection of its own (a PubSub); needs Redis
    (`listen_available`)."""
    # Its own client: health checks (a PING when idle) notice a connection that died quietly.
    pubsub = redis.Redis.from_url(settings.REDIS_URL, health_check_interval=10).pubsub()
    pubsub.subscribe(channel)
    return pubsub


def add(key: str, value: str, seconds: float) -> bool:
    """Set `key` unless it is set; whether this call set it. It expires after `seconds`."""
    client = _redis()
    if client is None:
        return cache.add(key, value, timeout=seconds)
    return bool(client.set(key, value, nx=True, px=max(1, int(seconds * 1000))))


def delete(key: str) -> None:
    client = _redis()
    if client is None:
        cache.delete(key)
    else:
        client.delete(key)
