"""Per-API-key rate limit: the organization's `rate_limit` requests per minute.

Windows are aligned to the clock minute, so one atomic increment on the `limits`
storage (connext.throttling: Redis, shared by every web process; embedded: per process)
gives the count, and the window's end is known without asking: one round trip a request.
The numbers feed the `X-RateLimit-*` headers (APIResponseHeadersMiddleware).
"""

import math
import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from apikeys.models import APIKey
from connext.throttling import limits_storage

WINDOW_SECONDS = 60


def rate_limit_for(key: APIKey) -> int:
    return key.organization.rate_limit or settings.DEFAULT_RATE_LIMIT


class APIKeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            return True
        limit = rate_limit_for(key)
        window = int(time.time() // WINDOW_SECONDS)
        self.reset_at = (window + 1) * WINDOW_SECONDS
        # The key's hash prefix: unique across databases that share one Redis.
        counter = f"connext-api/{key.key_hash[:16]}/{window}"
        count = limits_storage(settings.RATELIMIT_STORAGE_URL).incr(counter, WINDOW_SECONDS + 5)
        request._request.rate_limit = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - count, 0)),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        return count <= limit

    def wait(self) -> float:
        return max(1, math.ceil(self.reset_at - time.time()))
