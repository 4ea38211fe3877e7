"""Standard Webhooks signing: `webhook-id`, `webhook-timestamp` and `webhook-signature:
v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the base64 part of a `whsec_`
secret, with the `standardwebhooks` library (the reference implementation receivers verify
with). After a rotation both secrets sign, space-separated, as the spec allows."""

import base64
import datetime as dt
import secrets as random

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(24)).decode()


class Signer:
    """Signs requests with every secret in force (the current one first)."""

    def __init__(self, secrets: list[str]):
        self._webhooks = [Webhook(secret) for secret in secrets if secret]

    def headers(self, event_id: str, body: bytes, at: dt.datetime | None = None) -> dict[str, str]:
        at = at or dt.datetime.now(dt.UTC)
        return {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": " ".join(webhook.sign(event_id, at, body) for webhook in self._webhooks),
            "content-type": "application/json",
            "user-agent": "Connext-Webhooks/1.0",
        }
