"""Per-API-key rate limit (the organization's `rate_limit` per minute) with `limits`.

On Redis the counter is shared by every web process; the window stats feed the
`X-RateLimit-*` headers that APIResponseHeadersMiddleware puts on the response.
"""

import math
import time
from functools import cache

from django.conf import settings
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from rest_framework.throttling import BaseThrottle

from apikeys.models import APIKey


@cache
def _limiter(url: str) -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(storage_from_string(url))


def rate_limit_for(key: APIKey) -> int:
    return key.organization.rate_limit or settings.DEFAULT_RATE_LIMIT


class APIKeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            return True
        limit = RateLimitItemPerMinute(rate_limit_for(key), namespace="connext-api")
        limiter = _limiter(settings.RATELIMIT_STORAGE_URL)
        # Identified by the key's hash prefix, unique across databases sharing one Redis.
        allowed = limiter.hit(limit, key.key_hash[:16])
        stats = limiter.get_window_stats(limit, key.key_hash[:16])
        self.reset_at = stats.reset_time
        request._request.rate_limit = {
            "X-RateLimit-Limit": str(limit.amount),
            "X-RateLimit-Remaining": str(max(stats.remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(stats.reset_time)),
        }
        return allowed

    def wait(self) -> float:
        return max(1, math.ceil(self.reset_at - time.time()))
