"""Phone and email normalization: what a recipient string means, and its stored form."""

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_EMAILISH = re.compile(r"@")


class InvalidAddress(ValueError):
    """The message says what is wrong, for a 400 naming the field."""


def normalize_phone(raw: str, region: str = "US") -> str:
    """E.164 for a national number in `region`, a formatted variant, or an E.164 number."""
    text = raw.strip()
    if not text:
        raise InvalidAddress("Phone number is empty.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidAddress(f"{raw!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidAddress(f"{raw!r} is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    text = raw.strip().lower()
    try:
        validate_email(text)
    except ValidationError:
        raise InvalidAddress(f"{raw!r} is not a valid email address.") from None
    return text


def classify_recipient(raw: str, region: str = "US") -> tuple[str, str]:
    """("email", address) or ("phone", E.164) for a recipient string; InvalidAddress otherwise."""
    if _EMAILISH.search(raw):
        return "email", normalize_email(raw)
    return "phone", normalize_phone(raw, region)


def phone_digits(keyword: str) -> str:
    """The digits of a keyword that looks like (part of) a phone number, else ''."""
    digits = re.sub(r"\D", "", keyword)
    if len(digits) < 3 or re.search(r"[A-Za-z@]", keyword):
        return ""
    return digits
