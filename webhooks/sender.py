"""Posting events: many requests in flight on one aiohttp session, guarded against SSRF.

The guard (subscribers.fetch, shared with import URLs) runs at connect time, not only when the
URL is saved: the session's resolver refuses a host that resolves to a private, loopback,
link-local, CGNAT, multicast or reserved address (unless ALLOW_PRIVATE_URLS), and aiohttp
connects to exactly the addresses the resolver returned, so a DNS answer that changes after the
check (rebinding) cannot reach inside. An IP literal host never reaches a resolver: checked
here. Redirects are not followed (a 3xx is a failed attempt). Never raises for a network error.

A worker process keeps one event loop and one session (keep-alive connections to an endpoint
are reused between batches); a forked child makes its own.
"""

import asyncio
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from django.conf import settings

from subscribers.fetch import forbidden_address
from webhooks.signing import Signer

ERROR_TEXT_BYTES = 500  # of a failed answer's body, kept as its lastError


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class RefusedAddress(OSError):
    pass


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, its answers checked by the SSRF guard."""

    def __init__(self):
        self._resolver = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        answers = await self._resolver.resolve(host, port, family)
        if not settings.ALLOW_PRIVATE_URLS:
            for answer in answers:
                if forbidden_address(answer["host"]):
                    raise RefusedAddress(f"{host} resolves to a private or reserved address ({answer['host']}).")
        return answers

    async def close(self) -> None:
        await self._resolver.close()


def refused_host(url: str) -> str:
    """Why the URL may not be posted to before any connection (scheme, an IP literal host), or ''."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "Not a valid URL."
    if parts.scheme not in ("http", "https") or not host:
        return "Only http and https URLs are allowed."
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return ""  # a name: the resolver checks what it resolves to
    if not settings.ALLOW_PRIVATE_URLS and forbidden_address(host):
        return f"{host} is a private or reserved address."
    return ""


def new_session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(), limit=0, limit_per_host=max(1, concurrency), ttl_dns_cache=10
    )
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=settings.WEBHOOK_TIMEOUT_SECONDS)
    )


async def post_all(
    session: aiohttp.ClientSession,
    url: str,
    signer: Signer,
    events: Sequence[tuple[str, bytes]],
    concurrency: int,
    start_by: float | None = None,
) -> list[Outcome | None]:
    """POST each (event id, body) to `url`, `concurrency` at a time; one Outcome each, in order.
    Once `start_by` (time.monotonic()) is past, no new request starts (each of the
    `concurrency` workers makes its first anyway): the rest have no outcome (None: not
    attempted), so that a batch ends within a known time even when the endpoint is slow."""
    refused = refused_host(url)
    if refused:
        return [Outcome(None, refused)] * len(events)
    outcomes: list[Outcome | None] = [None] * len(events)
    pending = iter(enumerate(events))

    async def worker():  # a few workers draining one iterator: cheaper than a task per event
        for index, (event_id, body) in pending:
            outcomes[index] = await _post(session, url, signer.headers(event_id, body), body)
            if start_by is not None and time.monotonic() > start_by:
                return  # the next event stays unsent (None)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(events)))))
    return outcomes  # type: ignore[return-value]


async def _post(session: aiohttp.ClientSession, url: str, headers: dict, body: bytes) -> Outcome:
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
            if 200 <= response.status < 300:
                await response.read()
                return Outcome(response.status)
            text = (await response.content.read(ERROR_TEXT_BYTES)).decode(errors="replace")
            return Outcome(response.status, f"HTTP {response.status}: {text}".strip())
    except TimeoutError:
        return Outcome(None, f"No answer in {settings.WEBHOOK_TIMEOUT_SECONDS:g} s.")
    except aiohttp.ClientConnectorError as exc:
        cause = exc.os_error if isinstance(exc.os_error, RefusedAddress) else exc
        return Outcome(None, f"Could not connect: {cause}")
    except (aiohttp.ClientError, OSError) as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}")


class WorkerSender:
    """A worker process's loop and session, kept across batches and endpoints."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None

    def send(
        self, url: str, signer: Signer, events: Sequence[tuple[str, bytes]], start_by: float
    ) -> list[Outcome | None]:
        if not events:
            return []
        with self._lock:
            if self._pid != os.getpid() or self._loop is None:
                self._loop, self._session, self._pid = asyncio.new_event_loop(), None, os.getpid()
            return self._loop.run_until_complete(self._send(url, signer, events, start_by))

    def close(self) -> None:
        """Close the session and loop (at exit: aiohttp complains of a session left open)."""
        with self._lock:
            if self._pid == os.getpid() and self._loop is not None and not self._loop.is_closed():
                if self._session is not None:
                    self._loop.run_until_complete(self._session.close())
                self._loop.close()
            self._loop = self._session = None

    async def _send(self, url, signer, events, start_by) -> list[Outcome | None]:
        if self._session is None:  # made inside the loop: a session binds to the running loop
            self._session = new_session(settings.WEBHOOK_CONCURRENCY)
        return await post_all(self._session, url, signer, events, settings.WEBHOOK_CONCURRENCY, start_by)


def send_now(url: str, signer: Signer, event_id: str, body: bytes) -> Outcome:
    """One request, from a web request's thread (test, retry): a loop and session of its own."""

    async def one():
        async with new_session(1) as session:
            return (await post_all(session, url, signer, [(event_id, body)], 1))[0]

    return asyncio.run(one())
