"""Provider signatures: a callback is trusted only after its provider's own check passes."""

from django.conf import settings
from twilio.request_validator import RequestValidator


def twilio_request_is_valid(request) -> bool:
    """`X-Twilio-Signature` over the URL Twilio was given (PUBLIC_BASE_URL + path and query)
    and the POST parameters, checked with the SDK's RequestValidator."""
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    params = request.POST.dict() if request.method == "POST" else {}
    return RequestValidator(token).validate(url, params, signature)
