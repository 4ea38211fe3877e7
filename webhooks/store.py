"""The small shared state of webhooks (the subscriptions' version, the wake-up flags) in Redis,
through one redis-py client per process: the callback path reads the version on every change
it announces, and Django's Redis cache builds a new client object per call (~0.3 ms, more than
the round trip). Without Redis (the embedded mode), Django's cache (per process) stands in."""

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


def put(key: str, value: str) -> None:
    client = _redis()
    if client is None:
        cache.set(key, value, timeout=None)
    else:
        client.set(key, value)


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
