"""SendGrid: email through the sendgrid SDK, one Mail per item, sends spread over a thread pool.

The SDK (python_http_client over urllib) is blocking and opens a connection per request, so
concurrency comes from threads. `base_url` (settings.SENDGRID_API_BASE_URL) is the SDK's own
`host` argument: no rewriting needed.
"""

import http.client
import json
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from html import escape

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, From, Header, Mail

from blasts.channels.base import Channel, Outgoing, Result, retry_after_seconds
from blasts.channels.sendgrid import KINDS
from logs.models import Kind

logger = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.sendgrid.com"


def text_to_html(text: str) -> str:
    return escape(text).replace("\n", "<br>\n")


def build_mail(item: Outgoing, from_email: str) -> Mail:
    """The v3 Mail of one item: text and HTML parts, the unsubscribe footer and headers,
    `delivery_id` as a custom arg (SendGrid echoes it in every event webhook)."""
    text, html = item.email_text(), item.html or text_to_html(item.body)
    if item.unsubscribe_url:
        footer = f'<p style="font-size:12px;color:#666"><a href="{escape(item.unsubscribe_url)}">Unsubscribe</a></p>'
        index = html.lower().rfind("</body>")
        html = f"{html[:index]}{footer}{html[index:]}" if index >= 0 else f"{html}\n{footer}"
    sender = From(item.sender or from_email, item.sender_name or None)  # the organization's own, if it has one
    mail = Mail(from_email=sender, to_emails=item.to, subject=item.subject, plain_text_content=text, html_content=html)
    if item.unsubscribe_url:
        # RFC 8058 one-click unsubscribe (what Gmail and Yahoo ask of bulk senders).
        mail.header = [
            Header("List-Unsubscribe", f"<{item.unsubscribe_url}>"),
            Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
    mail.custom_arg = CustomArg("delivery_id", str(item.delivery_id))
    return mail


def _first_error(body) -> str:
    """`errors[0].message` of a SendGrid error body, else the body itself."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        return json.loads(body)["errors"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return (body or "").strip()[:500]


class SendGridChannel(Channel):
    name = "sendgrid"
    kinds = KINDS
    can_lookup = False

    def __init__(
        self,
        api_key: str,
        from_email: str,
        base_url: str | None = None,
        concurrency: int = 32,
        timeout: float = 10.0,
        rate_per_second: float = 0,
    ):
        self.from_email = from_email
        self.base_url = base_url.rstrip("/") if base_url else DEFAULT_HOST
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.rate_per_second = rate_per_second
        self._sg = SendGridAPIClient(api_key, host=self.base_url)
        # The SDK's `send` takes no timeout; the client's propagates to every request it builds.
        self._sg.client.timeout = timeout
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None

    def send_batch(self, items: Sequence[Outgoing]) -> list[Result]:
        """Send every item, at most `concurrency` requests in flight; one Result per item, in
        the order of `items`. Never raises for a provider or network error."""
        if not items:
            return []
        with self._lock:
            if self._pool is None or self._pid != os.getpid():  # a fork does not inherit threads
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="sendgrid")
                self._pid = os.getpid()
            pool = self._pool
        return list(pool.map(self._send, items))

    def _send(self, item: Outgoing) -> Result:
        if item.kind != Kind.EMAIL:
            return Result.failed(item.delivery_id, "unsupported_kind", f"SendGrid does not send {item.kind!r}")
        try:
            response = self._sg.send(build_mail(item, self.from_email))
        except HTTPError as exc:
            message = _first_error(exc.body)
            if exc.status_code == 429 or exc.status_code >= 500:
                retry_after = retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
                return Result.failed(
                    item.delivery_id, exc.status_code, message, transient=True, retry_after=retry_after
                )
            return Result.failed(item.delivery_id, exc.status_code, message)
        except TimeoutError:
            return Result.failed(
                item.delivery_id, "timeout", f"No answer from SendGrid in {self.timeout:g} s", transient=True
            )
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            reason = getattr(exc, "reason", None)
            code = "timeout" if isinstance(reason, TimeoutError) else "connection_error"
            return Result.failed(item.delivery_id, code, f"{type(exc).__name__}: {reason or exc}", transient=True)
        except ValueError as exc:  # the Mail helpers refuse the message (e.g. an empty address)
            return Result.failed(item.delivery_id, "invalid_message", str(exc))
        return Result.sent(item.delivery_id, response.headers.get("X-Message-Id", "") or "")

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.shutdown(wait=False)
            self._pool = None
