"""Counters for rate limits: one `limits` storage per URL, made once per process.

With Redis (settings.RATELIMIT_STORAGE_URL) the counts are shared by every web process
and worker; `memory://` (embedded mode) keeps them per process. Used by the API keys'
request limit (apikeys.throttling) and the providers' sends-per-second budget (blasts).
"""

from functools import cache

from limits.storage import Storage, storage_from_string


@cache
def limits_storage(url: str) -> Storage:
    return storage_from_string(url)
