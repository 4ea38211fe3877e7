"""Phone and email normalization: what a recipient string means, and its stored form.

Every phone and email the application stores or matches goes through `normalize_phone` and
`normalize_email`: the API, the admin, inbound callbacks and imports (100,000 rows a file, so
both take shortcuts that give the same answers faster).
"""

import re
from functools import lru_cache

import phonenumbers
from django.core.validators import validate_email
from phonenumbers import PhoneMetadata

_EMAILISH = re.compile(r"@")


class InvalidAddress(ValueError):
    """The message says what is wrong, for a 400 naming the field."""


# --- phones ----------------------------------------------------------------------------
#
# phonenumbers.parse + is_valid_number cost ~50 us per number, most of an
# import's time. NANP numbers written as 10 digits (optionally +1 / 1, spaces,
# dots, dashes, parentheses) get the same answer from the same metadata
# faster: the country code and national number are read off directly, and
# validity is phonenumbers' own algorithm (region chosen by leading digits or
# number type, then its number-type patterns) with the patterns compiled once.
# tests/subscribers/test_imports.py checks the shortcut agrees with phonenumbers on many numbers.

_NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
_NANP_WRITTEN = re.compile(
    r"(?:(\+1|1)[ .-]?)?(?:\(([2-9][0-9]{2})\)|([2-9][0-9]{2}))[ .-]?([0-9]{3})[ .-]?([0-9]{4})", re.ASCII
)


def _nanp_patterns():
    def pattern(desc):
        if desc is None or not desc.national_number_pattern:
            return None
        if len(desc.possible_length) > 0 and 10 not in desc.possible_length:
            return None
        return desc.national_number_pattern

    regions = []
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        meta = PhoneMetadata.metadata_for_region(code.upper(), None)
        if meta is None:
            continue
        kinds = [meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip, meta.personal_number]
        kinds += [meta.pager, meta.uan, meta.voicemail, meta.fixed_line]
        if not meta.same_mobile_and_fixed_line_pattern:
            kinds.append(meta.mobile)
        general = pattern(meta.general_desc)
        typed = [p for p in map(pattern, kinds) if p]
        valid = None
        if general and typed:
            valid = (re.compile(general), re.compile("|".join(f"(?:{p})" for p in typed)))
        leading = re.compile(meta.leading_digits) if meta.leading_digits is not None else None
        regions.append((leading, valid))
    return regions


_NANP_PATTERNS = _nanp_patterns()


def _nanp_is_valid(nsn: str) -> bool:
    """phonenumbers.is_valid_number for country code 1 and a 10-digit national number."""
    for leading, valid in _NANP_PATTERNS:
        if leading is not None:
            if leading.match(nsn):
                return valid is not None and bool(valid[0].fullmatch(nsn)) and bool(valid[1].fullmatch(nsn))
        elif valid is not None and valid[0].fullmatch(nsn) and valid[1].fullmatch(nsn):
            return True
    return False


def normalize_phone(raw: str, region: str = "US") -> str:
    """E.164 for a national number in `region`, a formatted variant, or an E.164 number."""
    text = raw.strip()
    if not text:
        raise InvalidAddress("Phone number is empty.")
    match = _NANP_WRITTEN.fullmatch(text)
    if match is not None and (match[1] == "+1" or region in _NANP_REGIONS):
        nsn = (match[2] or match[3]) + match[4] + match[5]
        if _nanp_is_valid(nsn):
            return "+1" + nsn
        raise InvalidAddress(f"{raw!r} is not a valid phone number.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidAddress(f"{raw!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidAddress(f"{raw!r} is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- emails ----------------------------------------------------------------------------
#
# Django's EmailValidator, step by step; the domain part's verdict is cached
# (a list has few distinct domains and its regular expression is the slow part).
_EMAIL_USER = re.compile(validate_email.user_regex.pattern, validate_email.user_regex.flags)


@lru_cache(maxsize=8192)
def _email_domain_ok(domain: str) -> bool:
    return domain in validate_email.domain_allowlist or validate_email.validate_domain_part(domain)


def normalize_email(raw: str) -> str:
    """Lower-cased, and valid as Django's validate_email says."""
    text = raw.strip().lower()
    if text and "@" in text and len(text) <= 320:
        user, domain = text.rsplit("@", 1)
        if _EMAIL_USER.match(user) and _email_domain_ok(domain):
            return text
    raise InvalidAddress(f"{raw!r} is not a valid email address.")


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
