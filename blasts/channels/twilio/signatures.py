"""Provider signatures: a callback is trusted only after its provider's own check passes."""

import hmac
from urllib.parse import parse_qsl

from django.conf import settings
from twilio.request_validator import RequestValidator

from connext.db import without_nul

FORM = "application/x-www-form-urlencoded"  # what Twilio posts
INVALID_TWILIO_SIGNATURE = "Invalid Twilio signature."  # the 403 of every Twilio hook


def signed_twilio_params(request) -> dict[str, str] | None:
    """The form Twilio posted, or None when its `X-Twilio-Signature` does not verify."""
    signature = request.META.get("HTTP_X_TWILIO_SIGNATURE", "")
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return None  # before reading the body: nothing to trust it with
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    if request.content_type == FORM:
        return verified_twilio_form(url, request.body, signature)
    return _verified(url, request.POST.dict(), signature)


def verified_twilio_form(url: str, body: bytes, signature: str) -> dict[str, str] | None:
    """The parameters of a form body Twilio posted to `url` (PUBLIC_BASE_URL + path and
    query, as we gave it to Twilio), or None when `signature` does not verify.

    Parsed once without a QueryDict: callbacks arrive by the thousand a second."""
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return None
    try:
        # Blank values are signed too; the field limit is Django's own for forms.
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        params = dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=limit))
    except ValueError:  # includes UnicodeDecodeError
        return None
    return _verified(url, params, signature)


def _verified(url: str, params: dict[str, str], signature: str) -> dict[str, str] | None:
    """The SDK's RequestValidator, made cheap: one HMAC over the URL exactly as we gave it is
    tried before the SDK's `validate` (which always computes two, with and without a port)."""
    token = settings.TWILIO_AUTH_TOKEN
    if not token or not signature:
        return None
    validator = RequestValidator(token)
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return without_nul(params)  # verified as sent; kept without what no database text holds
    return without_nul(params) if validator.validate(url, params, signature) else None
