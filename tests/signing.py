"""Signing callbacks the way the providers do, for every test that posts one.

Twilio signs the full URL it was given plus the sorted form parameters with the account's auth
token (`RequestValidator`); SendGrid signs timestamp + raw body with an ECDSA P-256 key whose
public half (base64 DER) is what `SENDGRID_WEBHOOK_PUBLIC_KEY` holds.

`twilio_hooks(client)` is Twilio calling our hooks in a test: the settings that make the app
expect its signature, and a `TwilioHooks` that posts signed as Twilio would.
"""

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import override_settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

FORM = "application/x-www-form-urlencoded"  # what Twilio posts


def twilio_signature(url: str, params: dict, token: str) -> str:
    return RequestValidator(token).compute_signature(url, params)


def twilio_post(client, url: str, params: dict, token: str, *, signed_params: dict | None = None):
    """POST `params` to `url` (a full URL: what Twilio was given) as Twilio does: form-encoded,
    signed over the URL and `signed_params` (default: the params themselves)."""
    signature = twilio_signature(url, params if signed_params is None else signed_params, token)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.post(path, urlencode(params), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature)


HOOKS_BASE_URL = "https://cnxt.example"  # PUBLIC_BASE_URL while Twilio calls our hooks in a test


@dataclass
class TwilioHooks:
    """Twilio posting to our hooks at HOOKS_BASE_URL + path, signed with `token`."""

    client: object
    token: str

    def post(self, path: str, params: dict, *, token: str | None = None):
        """A signed form post (`token=` another account's token: a forgery)."""
        return twilio_post(self.client, HOOKS_BASE_URL + path, params, token or self.token)

    def signature(self, path: str, params: dict) -> str:
        return twilio_signature(HOOKS_BASE_URL + path, params, self.token)


@contextmanager
def twilio_hooks(client, token: str = "hook-token") -> Iterator[TwilioHooks]:
    """TwilioHooks on `client`, under the settings that make the app accept its posts."""
    with override_settings(TWILIO_AUTH_TOKEN=token, PUBLIC_BASE_URL=HOOKS_BASE_URL):
        yield TwilioHooks(client, token)


def new_sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """What SendGrid shows under Mail Settings > Signed Event Webhook: the base64 DER public key."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


SENDGRID_KEY = new_sendgrid_key()
SENDGRID_PUBLIC_KEY = sendgrid_public_key(SENDGRID_KEY)


def sendgrid_headers(body: bytes, key=SENDGRID_KEY, timestamp: str | None = None) -> dict:
    """The signature headers of an event webhook post of `body`, as Django test client kwargs."""
    timestamp = timestamp or str(int(timezone.now().timestamp()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": base64.b64encode(signature).decode(),
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": timestamp,
    }


def sendgrid_post(client, events, *, key=SENDGRID_KEY, timestamp: str | None = None):
    """POST a batch of events to our SendGrid hook, signed as SendGrid signs it."""
    body = json.dumps(events).encode()
    return client.post(
        "/hooks/sendgrid/events", body, content_type="application/json", **sendgrid_headers(body, key, timestamp)
    )
