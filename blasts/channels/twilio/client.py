"""Twilio: SMS, MMS, voice calls, WhatsApp and RCS through the twilio SDK's async API, many
requests in flight. WhatsApp goes to `whatsapp:` addresses from our WhatsApp sender; RCS through
a Messaging Service with an RCS sender (Twilio falls back to the service's SMS sender when the
handset cannot take RCS). Either sends free text, or a Content template (contentSid + its
variables). One class, one instance per provider name (twilio, twilio_whatsapp, twilio_rcs), so
each has its own rate limit.

`send_batch` is called from a synchronous Celery task, so the channel owns an event loop and
one aiohttp-backed SDK client, both kept across batches (keep-alive connections to Twilio are
reused) and rebuilt after a fork. `base_url` (settings.TWILIO_API_BASE_URL) sends every
request meant for https://*.twilio.com to a stub instead: the SDK's domain classes hardcode
the host, so the HTTP client rewrites scheme and host of each URL it is given.
"""

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import aiohttp
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from blasts.channels.base import Channel, Outgoing, Result, retry_after_seconds
from blasts.channels.twilio import KINDS, codes, paths
from logs.models import Kind

logger = logging.getLogger(__name__)

CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Twilio stamps its records to the second with its own clock: a lookup accepts records this
# much older than `since`.
LOOKUP_SKEW = timedelta(seconds=5)
LOOKUP_LIMIT = 50  # messages to one number from one sender listed per lookup (a lease's window)

# The headers of the last error response seen by the current task: TwilioRestException keeps
# the status and body but drops the headers, and Retry-After lives there. Each send of a batch
# runs in its own asyncio task, hence its own context.
_error_headers: ContextVar = ContextVar("twilio_error_headers", default=None)


def rebase_url(url: str, base_url: str | None) -> str:
    """`https://api.twilio.com/2010-04-01/...` -> `{base_url}/2010-04-01/...` (any *.twilio.com
    host, so edge/region hosts too); other URLs and `base_url=None` leave it as is."""
    if not base_url:
        return url
    parts = url.split("/", 3)  # ["https:", "", host, path]
    if len(parts) == 4 and parts[0] == "https:" and parts[2].endswith("twilio.com"):
        return f"{base_url}/{parts[3]}"
    return url


class _AsyncHttpClient(AsyncTwilioHttpClient):
    """The SDK's aiohttp client, its `request` redone for a send path that runs hundreds of
    times a second: the URL rebased; a connection pool sized to the batch concurrency; the
    client's timeout applied (the SDK passes `timeout=None` per request, which aiohttp reads as
    "no timeout"); the form body encoded here (aiohttp takes a dict through a payload-registry
    miss and FormData, measurably slower); the Authorization header built once (aiohttp 3.14
    deprecates BasicAuth and warns on every request);
    no INFO log lines per request (the SDK writes about ten, which our root INFO level keeps);
    error headers kept for Retry-After."""

    def __init__(self, base_url: str | None, timeout: float, concurrency: int):
        super().__init__(pool_connections=False, timeout=timeout)
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )
        self._authorization: dict[tuple[str, str], str] = {}

    async def request(
        self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
    ) -> Response:
        headers = dict(headers or {})
        if auth is not None:
            if auth not in self._authorization:
                self._authorization[auth] = aiohttp.encode_basic_auth(auth[0], auth[1])
            headers["Authorization"] = self._authorization[auth]
        if data and isinstance(data, dict):
            data = urlencode(data, doseq=True).encode()  # lists (MediaUrl, ...) repeat the name
        options = {"timeout": aiohttp.ClientTimeout(total=timeout)} if timeout else {}
        async with self.session.request(
            method.upper(),
            rebase_url(url, self.base_url),
            params=params,
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
            **options,
        ) as response:
            text = await response.text()
        if response.status >= 400:
            _error_headers.set(response.headers)
            logger.debug("Twilio %s %s: %s %s", method, url, response.status, text)
        return Response(response.status, text, response.headers)


class _SyncHttpClient(TwilioHttpClient):
    """The SDK's requests-based client (for lookups), rebased like the async one."""

    def __init__(self, base_url: str | None, timeout: float):
        super().__init__(timeout=timeout)
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        return super().request(method, rebase_url(url, self.base_url), *args, **kwargs)


def is_messaging_service(sender: str) -> bool:
    """A Messaging Service SID (MG + 32 characters) rather than a phone number."""
    return sender.startswith("MG") and len(sender) == 34


class TwilioChannel(Channel):
    name = "twilio"
    kinds = KINDS
    can_lookup = True

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str | None = None,
        public_base_url: str = "",
        concurrency: int = 100,
        timeout: float = 10.0,
        rate_per_second: float = 0,
        *,
        name: str = "twilio",
        kinds: frozenset[str] = KINDS,
        whatsapp_from: str = "",
        messaging_service_sid: str = "",
    ):
        self.name = name
        self.kinds = kinds
        self.whatsapp_from = whatsapp_from
        self.messaging_service_sid = messaging_service_sid
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.base_url = base_url.rstrip("/") if base_url else None
        self.public_base_url = public_base_url.rstrip("/")  # ours: where Twilio calls back
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.rate_per_second = rate_per_second
        self._lock = threading.Lock()  # one batch at a time on the channel's loop
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        # Lookups (the sweeper's) run from several threads at once: a requests client each.
        self._lookup_local = threading.local()
        self._sync_clients: list[Client] = []  # this process's, to close

    # -- sending -------------------------------------------------------------------------------

    def send_batch(self, items: Sequence[Outgoing]) -> list[Result]:
        """Send every item, at most `concurrency` requests in flight; one Result per item, in
        the order of `items`. Never raises for a provider or network error. Must not be called
        from a thread that is running an event loop."""
        if not items:
            return []
        with self._lock:
            return self._event_loop().run_until_complete(self._send_all(items))

    def _forget_if_forked(self) -> None:
        if self._pid != os.getpid():
            # Forked (Celery prefork) after the parent used the channel: its loop and sockets
            # belong to the parent.
            self._loop = self._client = None
            self._sync_clients = []
            self._pid = os.getpid()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        self._forget_if_forked()
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            self._client = None
        return self._loop

    async def _send_all(self, items: Sequence[Outgoing]) -> list[Result]:
        if self._client is None:
            # Built inside the loop: an aiohttp session binds to the running loop.
            http = _AsyncHttpClient(self.base_url, self.timeout, self.concurrency)
            self._client = Client(self.account_sid, self.auth_token, http_client=http)
        results: list[Result | None] = [None] * len(items)
        pending = iter(enumerate(items))

        # `concurrency` workers draining one iterator: cheaper than a task per item.
        async def worker():
            for index, item in pending:
                results[index] = await self._send(item)

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(items)))))
        return results  # type: ignore[return-value]

    async def _send(self, item: Outgoing) -> Result:
        _error_headers.set(None)
        # Our delivery id rides in the callback URLs, signed with them: a callback finds its row.
        callback = (
            paths.status_callback_url(self.public_base_url, item.delivery_id, item.kind) if self.public_base_url else ""
        )
        try:
            if item.kind in (Kind.WHATSAPP, Kind.RCS):
                message = await self._client.messages.create_async(
                    **self._addresses(item),
                    body=values.unset if item.content_sid else item.body or values.unset,
                    content_sid=item.content_sid or values.unset,
                    content_variables=item.content_variables or values.unset,
                    status_callback=callback or values.unset,
                )
                return Result.sent(item.delivery_id, message.sid)
            if item.kind == Kind.VOICE:
                call = await self._client.calls.create_async(
                    to=item.to,
                    from_=item.sender or self.from_number,
                    url=paths.voice_url(self.public_base_url, item.delivery_id),
                    method="POST",
                    status_callback=callback or values.unset,
                    status_callback_event=CALL_EVENTS if callback else values.unset,
                    status_callback_method="POST" if callback else values.unset,
                )
                return Result.sent(item.delivery_id, call.sid)
            if item.kind in (Kind.SMS, Kind.MMS):
                service = item.sender if is_messaging_service(item.sender) else ""
                message = await self._client.messages.create_async(
                    to=item.to,
                    from_=values.unset if service else item.sender or self.from_number,
                    messaging_service_sid=service or values.unset,
                    body=item.body or values.unset,
                    media_url=list(item.media_urls) if item.kind == Kind.MMS and item.media_urls else values.unset,
                    status_callback=callback or values.unset,
                )
                return Result.sent(item.delivery_id, message.sid)
            return Result.failed(item.delivery_id, "unsupported_kind", f"Twilio does not send {item.kind!r}")
        except TwilioRestException as exc:
            message = str(exc.msg).removeprefix("Unable to create record: ")
            return self._http_error(item, exc.status, exc.code, message)
        except TwilioServiceException as exc:  # RFC 9457 error bodies (newer Twilio APIs)
            return self._http_error(item, exc.status, exc.code, exc.detail or exc.title)
        except TimeoutError:
            return Result.failed(
                item.delivery_id, "timeout", f"No answer from Twilio in {self.timeout:g} s", transient=True
            )
        except (aiohttp.ClientError, OSError) as exc:
            return Result.failed(item.delivery_id, "connection_error", f"{type(exc).__name__}: {exc}", transient=True)
        except (TwilioException, ValueError) as exc:  # an unreadable answer: the SDK's or JSON's complaint
            logger.warning("Twilio send %s: unexpected answer", item.delivery_id, exc_info=True)
            return Result.failed(item.delivery_id, "bad_response", f"{type(exc).__name__}: {exc}", transient=True)

    def _addresses(self, item: Outgoing) -> dict:
        """To and from of a chat send: WhatsApp between `whatsapp:` addresses, RCS to the phone
        through the Messaging Service (which picks its RCS sender, or its SMS sender as fallback)."""
        if item.kind == Kind.WHATSAPP:
            return {"to": f"whatsapp:{item.to}", "from_": f"whatsapp:{item.sender or self.whatsapp_from}"}
        return {"to": item.to, "messaging_service_sid": self.messaging_service_sid}

    def _http_error(self, item: Outgoing, status: int, code, message: str) -> Result:
        if status == 429 or status >= 500:
            headers = _error_headers.get()
            retry_after = retry_after_seconds(headers.get("Retry-After")) if headers is not None else None
            return Result.failed(item.delivery_id, code or status, message, transient=True, retry_after=retry_after)
        return Result.failed(item.delivery_id, code or status, message, refusal=codes.REFUSALS.get(str(code)))

    # -- after a crash -------------------------------------------------------------------------

    def lookup(self, item: Outgoing, since: datetime) -> list[str]:
        """The sids of messages (calls, for voice) from our sender to `item.to` created since
        `since`, newest first; for a message, only those whose text is `item.body` (a trial
        account's prefix allowed). Listed by recipient and sender, not by DateSent: Twilio fills
        DateSent only once a message leaves its queue, and a message it still holds was sent."""
        since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        oldest = since - LOOKUP_SKEW
        client = self._lookup_client()
        sender = item.sender or self.from_number
        if item.kind == Kind.VOICE:
            rows = client.calls.list(to=item.to, from_=sender, limit=LOOKUP_LIMIT)  # newest first
        elif item.kind in (Kind.WHATSAPP, Kind.RCS):
            addresses = self._addresses(item)
            rows = client.messages.list(
                to=addresses["to"], from_=addresses.get("from_", values.unset), limit=LOOKUP_LIMIT
            )
            if item.kind == Kind.RCS:  # sent through our Messaging Service, from its RCS or SMS sender
                rows = [r for r in rows if r.messaging_service_sid == self.messaging_service_sid]
            if not item.content_sid:  # a template's text is Twilio's: only free text can be compared
                rows = [r for r in rows if (r.body or "").endswith(item.body)]
        else:
            # A Messaging Service picks the number per message: listed by recipient alone.
            from_ = values.unset if is_messaging_service(sender) else sender
            rows = client.messages.list(to=item.to, from_=from_, limit=LOOKUP_LIMIT)  # newest first
            rows = [r for r in rows if (r.body or "").endswith(item.body)]
        return [r.sid for r in rows if not isinstance(r.date_created, datetime) or r.date_created >= oldest]

    def _lookup_client(self) -> Client:
        """This thread's synchronous client (the SDK's requests-based one), made on first use."""
        local = self._lookup_local
        if getattr(local, "pid", None) != os.getpid():
            http = _SyncHttpClient(self.base_url, self.timeout)
            local.client, local.pid = Client(self.account_sid, self.auth_token, http_client=http), os.getpid()
            with self._lock:
                self._forget_if_forked()
                self._sync_clients.append(local.client)
        return local.client

    def close(self) -> None:
        with self._lock:
            mine = self._pid == os.getpid()
            if mine and self._loop is not None and not self._loop.is_closed():
                if self._client is not None:
                    self._loop.run_until_complete(self._client.http_client.close())
                self._loop.close()
            for client in self._sync_clients if mine else []:
                if client.http_client.session:
                    client.http_client.session.close()
            self._loop = self._client = None
            self._sync_clients = []
            self._lookup_local = threading.local()
