"""A Twilio REST API (2010-04-01 Messages and Calls) stand-in for the real `twilio` SDK.

Routes: `POST|GET /2010-04-01/Accounts/{sid}/Messages.json`, `POST|GET .../Calls.json`
(HTTP Basic auth with the account sid and token), plus the `/_stub/...` control routes.
Each accepted send is recorded as a dict: `kind` (sms | mms | call), `sid`, `to`, `from`,
`body`, `media` (list), `status_callback`, `url`, `status_callback_event` (list),
`status`, `date_created` (ISO), `auth` (the account sid used), `params` (the raw form).

WhatsApp: a message between `whatsapp:` addresses is recorded with kind `whatsapp`. RCS: a message
with no `From` and a `MessagingServiceSid` of `rcs_services` (a service with an RCS sender) goes
out from that sender (`rcs:` + RCS_AGENT, kind `rcs`), unless its `To` is in `no_rcs` (a handset
without RCS): then the service falls back to its SMS sender (`sms_fallback_from`, kind `sms`,
`fallback` true), as Twilio does. Any other service sends SMS from its own numbers.
Either may carry `ContentSid` and `ContentVariables` (a Content template) instead of a `Body`.

With `callbacks=True` it then behaves like Twilio towards our server: for a message it POSTs
`MessageStatus` sent then delivered to its StatusCallback; for a call it fetches the TwiML at
`Url` (recorded as `twiml`) and reports initiated/ringing/in-progress/completed. Every such
request is form-encoded and signed with `X-Twilio-Signature`; the answers go to `callbacks_log`.

    python -m tests.stubs.twilio_stub --port 0 --latency 0.1
"""

import asyncio
import base64
import binascii
import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.signing import twilio_signature
from tests.stubs.server import Stub, main

TEST_ACCOUNT_SID = "AC" + "0" * 31 + "1"
TEST_AUTH_TOKEN = "stub-auth-token"
RCS_AGENT = "connext_test_agent"
API = "/2010-04-01/Accounts/{account_sid}"

# Characters of the GSM 03.38 basic set (plus the extension table, which costs two septets).
_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    if all(c in _GSM or c in _GSM_EXT for c in body):
        units, single, multi = sum(2 if c in _GSM_EXT else 1 for c in body), 160, 153
    else:
        units, single, multi = sum(2 if ord(c) > 0xFFFF else 1 for c in body), 70, 67
    return 1 if units <= single else -(-units // multi)


def _rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment, usegmt=True) if moment else None


def _parse_filter_date(value: str) -> datetime:
    """Twilio's date filters take `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`."""
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class TwilioStub(Stub):
    account_sid: str = TEST_ACCOUNT_SID
    auth_token: str = TEST_AUTH_TOKEN
    callbacks: bool = False
    # Hold messages in Twilio's queue: accepted (status queued) but not handed to the carrier, so
    # they have no DateSent yet, as under a busy sender's queue.
    hold_queued: bool = False
    callback_delay: float = 0.02  # seconds between the acceptance and each status callback
    callbacks_log: list = field(default_factory=list)  # (url, params, status of our answer)
    rcs_services: set = field(default_factory=set)  # Messaging Services with an RCS sender (others: SMS)
    no_rcs: set = field(default_factory=set)  # numbers whose handsets cannot take RCS: SMS fallback
    sms_fallback_from: str = "+15005550006"  # the Messaging Service's SMS sender

    # -- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(API + "/Messages.json", self._create_message)
        app.router.add_get(API + "/Messages.json", self._list_messages)
        app.router.add_post(API + "/Calls.json", self._create_call)
        app.router.add_get(API + "/Calls.json", self._list_calls)
        app.cleanup_ctx.append(self._http_session)

    async def _http_session(self, app):
        self._tasks: set[asyncio.Task] = set()
        async with aiohttp.ClientSession() as session:
            self._http = session
            yield
            for task in list(self._tasks):
                task.cancel()

    def _check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        if not header.startswith("Basic ") or (user, password) != (self.account_sid, self.auth_token):
            return self._error(401, 20003, "Authentication Error - invalid username")
        if request.match_info["account_sid"] != self.account_sid:
            return self._error(404, 20404, "The requested resource was not found")
        return None

    @staticmethod
    def _error(status: int, code: int | None, message: str, retry_after=None) -> web.Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(body, status=status, headers=headers)

    async def _accept(self, request: web.Request, required: tuple[str, ...]):
        """Common front half of a create: latency, auth, form, required fields, faults.
        Returns (form, None) to go on or (None, error response)."""
        await self.pause()
        if denied := self._check_auth(request):
            return None, denied
        form = await request.post()
        for name in required:
            if name == "From" and form.get("MessagingServiceSid"):
                continue  # the Messaging Service picks the sender
            if not form.get(name):
                return None, self._error(400, 21604, f"A '{name}' phone number is required.")
        if fault := self.fault_for(form["To"]):
            return None, self._error(fault.status, fault.code, fault.message, fault.retry_after)
        return form, None

    async def _create_message(self, request: web.Request) -> web.Response:
        form, error = await self._accept(request, ("To",))
        if error:
            return error
        service = form.get("MessagingServiceSid", "")
        if not form.get("From") and not service:  # a Messaging Service picks its own number
            return self._error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
        body, media = form.get("Body", ""), form.getall("MediaUrl", [])
        content_sid = form.get("ContentSid", "")
        if not body and not media and not content_sid:
            return self._error(400, 21602, "Message body is required.")
        to, sender, service = form["To"], form.get("From", ""), form.get("MessagingServiceSid", "")
        kind, fallback = ("mms" if media else "sms"), False
        if to.startswith("whatsapp:"):
            if not sender.startswith("whatsapp:"):
                return self._error(400, 63007, "Twilio could not find a Channel with the specified From address")
            kind = "whatsapp"
        elif service and not sender and service in self.rcs_services:
            if to in self.no_rcs:  # the handset cannot take RCS: the service's SMS sender instead
                sender, fallback = self.sms_fallback_from, True
            else:
                sender, kind = f"rcs:{RCS_AGENT}", "rcs"
        now = datetime.now(UTC)
        sid = "SM" + secrets.token_hex(16)
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": _rfc2822(now),
            "date_sent": None,
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": str(len(media)),
            "num_segments": str(num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{API.format(account_sid=self.account_sid)}/Messages/{sid}/Media.json"},
            "to": form["To"],
            "uri": f"{API.format(account_sid=self.account_sid)}/Messages/{sid}.json",
        }
        self.record(
            {
                "kind": kind,
                "sid": sid,
                "to": to,
                "from": sender,
                "body": body,
                "media": media,
                "content_sid": content_sid,
                "content_variables": form.get("ContentVariables", ""),
                "messaging_service_sid": service,
                "fallback": fallback,
                "status_callback": form.get("StatusCallback", ""),
                # Handed to the "carrier" at once, unless told to hold it in the queue.
                "status": "queued" if self.hold_queued else "sent",
                "date_created": now.isoformat(),
                "date_sent": None if self.hold_queued else now.isoformat(),
                "num_segments": int(message["num_segments"]),
                "params": _form_dict(form),
                "resource": message if self.hold_queued else {**message, "status": "sent", "date_sent": _rfc2822(now)},
            }
        )
        if self.callbacks and form.get("StatusCallback"):
            self._spawn(request.app, self._message_callbacks(request.app, message, form["StatusCallback"]))
        return web.json_response(message, status=201)

    async def _create_call(self, request: web.Request) -> web.Response:
        form, error = await self._accept(request, ("To", "From"))
        if error:
            return error
        if not form.get("Url") and not form.get("Twiml") and not form.get("ApplicationSid"):
            return self._error(400, 21205, "Url parameter is required.")
        now = datetime.now(UTC)
        sid = "CA" + secrets.token_hex(16)
        call = {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": "2010-04-01",
            "caller_name": None,
            "date_created": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": form["From"],
            "from_formatted": form["From"],
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {},
            "to": form["To"],
            "to_formatted": form["To"],
            "trunk_sid": None,
            "uri": f"{API.format(account_sid=self.account_sid)}/Calls/{sid}.json",
        }
        events = form.getall("StatusCallbackEvent", [])
        self.record(
            {
                "kind": "call",
                "sid": sid,
                "to": form["To"],
                "from": form["From"],
                "url": form.get("Url", ""),
                "method": form.get("Method", "POST"),
                "status_callback": form.get("StatusCallback", ""),
                "status_callback_event": events,
                "status_callback_method": form.get("StatusCallbackMethod", "POST"),
                "status": "queued",
                "date_created": now.isoformat(),
                "start_time": now.isoformat(),
                "twiml": None,
                "params": _form_dict(form),
                "resource": {**call, "start_time": _rfc2822(now)},
            }
        )
        if self.callbacks:
            self._spawn(request.app, self._call_progress(request.app, call, form))
        return web.json_response(call, status=201)

    async def _list_messages(self, request: web.Request) -> web.Response:
        return await self._list(request, "messages", "DateSent", ("sms", "mms", "whatsapp", "rcs"), "date_sent")

    async def _list_calls(self, request: web.Request) -> web.Response:
        return await self._list(request, "calls", "StartTime", ("call",), "start_time")

    async def _list(self, request, key: str, date_param: str, kinds, date_field: str) -> web.Response:
        await self.pause()
        if denied := self._check_auth(request):
            return denied
        q = request.query
        rows = [s for s in self.sends if s["kind"] in kinds]
        if q.get("To"):
            rows = [s for s in rows if s["to"] == q["To"]]
        if q.get("From"):
            rows = [s for s in rows if s["from"] == q["From"]]
        try:
            for op, keep in ((">", lambda d, v: d >= v), ("<", lambda d, v: d <= v), ("", None)):
                if value := q.get(date_param + op):
                    bound = _parse_filter_date(value)
                    if keep is None:  # an exact day
                        rows = [s for s in rows if s[date_field] and s[date_field][:10] == value[:10]]
                    else:
                        rows = [s for s in rows if s[date_field] and keep(datetime.fromisoformat(s[date_field]), bound)]
            page_size = max(1, min(int(q.get("PageSize", 50)), 1000))
            page = max(0, int(q.get("Page", 0)))
        except ValueError as exc:
            return self._error(400, 20001, f"Invalid parameter: {exc}")
        rows.sort(key=lambda s: s["date_created"], reverse=True)  # newest first, as Twilio lists
        chunk = rows[page * page_size : (page + 1) * page_size]
        base = f"{API.format(account_sid=self.account_sid)}/{key.capitalize()}.json"
        params = {k: v for k, v in q.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(n: int) -> str:
            return f"{base}?{urlencode({**params, 'PageSize': page_size, 'Page': n})}"

        more = (page + 1) * page_size < len(rows)
        return web.json_response(
            {
                key: [s["resource"] for s in chunk],
                "end": page * page_size + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) + f"&PageToken=PA{page + 1}" if more else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page else None,
                "start": page * page_size,
                "uri": page_uri(page),
            }
        )

    # -- Twilio calling us back ----------------------------------------------------------------

    def _spawn(self, app, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_signed(self, app, url: str, params: dict) -> str | None:
        signature = twilio_signature(url, params, self.auth_token)
        try:
            async with self._http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
                text = await resp.text()
                self.callbacks_log.append((url, params, resp.status))
                return text
        except (aiohttp.ClientError, OSError) as exc:
            self.callbacks_log.append((url, params, repr(exc)))
            return None

    async def _message_callbacks(self, app, message: dict, url: str) -> None:
        for status in ("sent", "delivered"):
            await asyncio.sleep(self.callback_delay)
            self.update("sid", message["sid"], status=status)
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": "2010-04-01",
                "From": message["from"],
                "MessageSid": message["sid"],
                "MessageStatus": status,
                "SmsSid": message["sid"],
                "SmsStatus": status,
                "To": message["to"],
            }
            await self._post_signed(app, url, params)

    async def _call_progress(self, app, call: dict, form) -> None:
        base = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call["sid"],
            "Called": call["to"],
            "Caller": call["from"],
            "Direction": "outbound-api",
            "From": call["from"],
            "To": call["to"],
        }
        events = set(form.getall("StatusCallbackEvent", [])) or {"completed"}
        callback = form.get("StatusCallback")
        for event, status in (("initiated", "initiated"), ("ringing", "ringing"), ("answered", "in-progress")):
            await asyncio.sleep(self.callback_delay)
            self.update("sid", call["sid"], status=status)
            if event == "answered" and form.get("Url"):
                twiml = await self._post_signed(app, form["Url"], {**base, "CallStatus": status})
                self.update("sid", call["sid"], twiml=twiml)
            if callback and event in events:
                await self._post_signed(
                    app, callback, {**base, "CallStatus": status, "CallbackSource": "call-progress-events"}
                )
        await asyncio.sleep(self.callback_delay)
        self.update("sid", call["sid"], status="completed")
        if callback:
            await self._post_signed(app, callback, {**base, "CallStatus": "completed", "CallDuration": "5"})

    # -- CLI -----------------------------------------------------------------------------------

    @staticmethod
    def add_arguments(parser) -> None:
        parser.add_argument("--account-sid", default=TEST_ACCOUNT_SID)
        parser.add_argument("--auth-token", default=TEST_AUTH_TOKEN)
        parser.add_argument("--callbacks", action="store_true", help="post status callbacks")

    @staticmethod
    def options_from(args) -> dict:
        return {"account_sid": args.account_sid, "auth_token": args.auth_token, "callbacks": args.callbacks}


def _form_dict(form) -> dict:
    """A form as {name: value}, or {name: [values]} for repeated names."""
    out: dict = {}
    for name in form:
        if name not in out:
            values = form.getall(name)
            out[name] = values if len(values) > 1 else values[0]
    return out


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(TwilioStub, "A Twilio REST API stub for the real twilio SDK.")
