"""A SendGrid v3 Mail Send stand-in for the real `sendgrid` SDK.

Route: `POST /v3/mail/send` (Bearer auth) → `202`, empty body, `X-Message-Id`; plus the
`/_stub/...` control routes. Each accepted send is recorded as a dict: `message_id`, `to`
(the first recipient), `recipients` (all), `from`, `subject`, `text`, `html`, `headers`,
`custom_args`, `categories`, `body` (the raw JSON). Faults are keyed by the first recipient
and answered as SendGrid does: `{"errors": [{"message", "field", "help"}]}`.

    python -m tests.stubs.sendgrid_stub --port 0 --latency 0.1
"""

import contextlib
import json
import secrets
from dataclasses import dataclass

from aiohttp import web

from tests.stubs.server import Stub, main

TEST_API_KEY = "SG.stub-key.stub-secret"


def _errors(status: int, message: str, field: str | None = None, retry_after=None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    body = {"errors": [{"message": message, "field": field, "help": None}]}
    return web.json_response(body, status=status, headers=headers)


@dataclass
class SendGridStub(Stub):
    api_key: str = TEST_API_KEY

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/mail/send", self._send)

    async def _send(self, request: web.Request) -> web.Response:
        await self.pause()
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _errors(401, "The provided authorization grant is invalid, expired, or revoked")
        try:
            mail = json.loads(await request.read())
        except ValueError:
            return _errors(400, "Bad Request", None)
        personalizations = mail.get("personalizations") or []
        recipients = [to.get("email", "") for p in personalizations for to in p.get("to", [])]
        if not recipients or not all("@" in r for r in recipients):
            return _errors(400, "Does not contain a valid address.", "personalizations.0.to.0.email")
        if not (mail.get("from") or {}).get("email"):
            return _errors(400, "The from object must be provided for every email send.", "from")
        contents = {c.get("type"): c.get("value") for c in mail.get("content") or []}
        if not contents and not mail.get("template_id"):
            return _errors(400, "Unless a valid template_id is provided, the content parameter is required.", "content")
        if fault := self.fault_for(recipients[0]):
            return _errors(fault.status, fault.message, None, fault.retry_after)

        first = personalizations[0]
        message_id = secrets.token_urlsafe(16)
        self.record(
            {
                "message_id": message_id,
                "to": recipients[0],
                "recipients": recipients,
                "from": mail["from"]["email"],
                "from_name": mail["from"].get("name", ""),
                "subject": first.get("subject") or mail.get("subject", ""),
                "text": contents.get("text/plain", ""),
                "html": contents.get("text/html", ""),
                "headers": {**(mail.get("headers") or {}), **(first.get("headers") or {})},
                "custom_args": {**(mail.get("custom_args") or {}), **(first.get("custom_args") or {})},
                "categories": mail.get("categories") or [],
                "body": mail,
            }
        )
        return web.Response(status=202, headers={"X-Message-Id": message_id})

    @staticmethod
    def add_arguments(parser) -> None:
        parser.add_argument("--api-key", default=TEST_API_KEY)

    @staticmethod
    def options_from(args) -> dict:
        return {"api_key": args.api_key}


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(SendGridStub, "A SendGrid v3 Mail Send stub for the real sendgrid SDK.")
