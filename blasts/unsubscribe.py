"""Unsubscribe links of emails: `PUBLIC_BASE_URL/u/<token>`, the token signed with SECRET_KEY.

Every email carries one (List-Unsubscribe header and the footer); following it and confirming
puts the address on its organization's blocklist (`blasts.public_views.unsubscribe`).
"""

from django.conf import settings
from django.core import signing

from connext.models import Organization
from subscribers.addresses import InvalidAddress, normalize_email
from subscribers.models import BlocklistEntry
from subscribers.services import blocklist_add

SALT = "connext.unsubscribe"


def unsubscribe_url(organization_id: int, email: str) -> str:
    token = signing.dumps({"o": organization_id, "e": email}, salt=SALT, compress=True)
    return f"{settings.PUBLIC_BASE_URL}/u/{token}"


def unsubscribe_target(token: str):
    """(organization, email) of a signed unsubscribe token; None when forged, when what it
    names is not an email address (these links only ever stop email: a token signed over a
    phone number, or anything else, blocks nothing), or when the organization is gone."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or type(data.get("o")) is not int or not isinstance(data.get("e"), str):
        return None
    try:
        email = normalize_email(data["e"])
    except InvalidAddress:
        return None
    org = Organization.objects.filter(pk=data["o"]).first()
    return None if org is None else (org, email)


def unsubscribe(token: str) -> str | None:
    """Put the address of a signed unsubscribe token on its organization's blocklist."""
    target = unsubscribe_target(token)
    if target is None:
        return None
    org, email = target
    blocklist_add(organization=org, recipient=email, reason=BlocklistEntry.Reason.STOP)
    return email
