"""Signing callbacks the way the providers do, for every test that posts one.

Twilio signs the full URL it was given plus the sorted form parameters with the account's auth
token (`RequestValidator`); SendGrid signs timestamp + raw body with an ECDSA P-256 key whose
public half (base64 DER) is what `SENDGRID_WEBHOOK_PUBLIC_KEY` holds.
"""

import base64
import json
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
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
