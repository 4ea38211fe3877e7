"""A customer's webhook receiver on loopback: verifies each request's signature with the
`standardwebhooks` library (as a customer would), and records the events it accepted, once per
`webhook-id` (a retry of an accepted event is answered 200 and not recorded again).

- `secrets`: the `whsec_` secrets it verifies with (any may match); none: nothing verifies.
- `fail_first`: each `webhook-id`'s first N attempts are answered `fail_status` (default 500).
- `status`: the answer to every request instead (410, 404...), when set.
- `latency` (Stub's): seconds each request waits before it is answered.
Requests that fail verification are answered 401 and counted in `unverified`.
"""

import json
import threading
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from tests.stubs.server import Stub

PATH = "/hook"


@dataclass
class WebhookReceiver(Stub):
    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0
    fail_status: int = 500
    status: int | None = None
    unverified: int = 0
    attempts: Counter = field(default_factory=Counter)  # webhook-id -> requests seen
    headers_seen: list[dict] = field(default_factory=list)

    def __post_init__(self):
        super().__post_init__()
        self._accepted: dict[str, dict] = {}
        self._events_lock = threading.Lock()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self._receive)

    @property
    def events(self) -> list[dict]:
        """The accepted events' bodies, once each, in arrival order."""
        with self._events_lock:
            return list(self._accepted.values())

    def of_type(self, event_type: str) -> list[dict]:
        return [event for event in self.events if event["type"] == event_type]

    async def _receive(self, request: web.Request) -> web.Response:
        await self.pause()
        body = await request.read()
        event_id = request.headers.get("webhook-id", "")
        with self._events_lock:
            self.requests += 1
            self.attempts[event_id] += 1
            attempt = self.attempts[event_id]
            self.headers_seen.append(dict(request.headers))
        if self.status is not None:
            return web.Response(status=self.status)
        if attempt <= self.fail_first:
            return web.Response(status=self.fail_status, text="not yet")
        try:
            self._verify(body, request.headers)
        except WebhookVerificationError:
            with self._events_lock:
                self.unverified += 1
            return web.Response(status=401, text="bad signature")
        with self._events_lock:
            self._accepted.setdefault(event_id, json.loads(body))
        return web.Response(status=204)

    def _verify(self, body: bytes, headers) -> None:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, dict(headers))
                return
            except WebhookVerificationError:
                continue
        raise WebhookVerificationError("no secret verifies the request")
