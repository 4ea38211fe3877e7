"""Which subscriber field a column fills, and the shape of a row as the import carries it.

A row is a tuple: (line, first, last, phone, email, address, city, state, zip, enabled, text,
group ids). "Not given" is "" for the text fields and None for the two flags: an update keeps
the current value, a new subscriber gets the default. The row's own groups (a `groups` column,
as GET /subscribers/export writes it) are added to the job's.

Before it is checked, a row is its raw values: one per FIELDS, then the groups cell (RAW_GROUPS).
"""

import re

from subscribers.models import Subscriber

FIELDS = ("first", "last", "phone", "email", "address", "city", "state", "zip", "enabled", "text")
LINE, FIRST, LAST, PHONE, EMAIL, ADDRESS, CITY, STATE, ZIP, ENABLED, TEXT, GROUPS = range(12)
RAW_GROUPS = len(FIELDS)  # raw values: FIELDS, then the groups cell
TEXT_FIELDS = ("first", "last", "address", "city", "state", "zip")
MAX_LENGTH = {name: Subscriber._meta.get_field(name).max_length for name in (*TEXT_FIELDS, "phone", "email")}

ALIASES = {
    "first": ("first", "first_name", "firstname", "fname", "given_name"),
    "last": ("last", "last_name", "lastname", "lname", "surname", "family_name"),
    "phone": ("phone", "mobile", "cell", "phone_number", "mobile_phone", "telephone", "tel", "sms"),
    "email": ("email", "email_address", "e_mail", "mail"),
    "address": ("address", "address1", "street"),
    "city": ("city", "town"),
    "state": ("state", "province", "region"),
    "zip": ("zip", "zip_code", "zipcode", "postal_code", "postcode"),
    "enabled": ("enabled",),
    "text": ("text",),
    "groups": ("groups", "group", "group_numbers"),
}
_COLUMNS = {alias: field for field, aliases in ALIASES.items() for alias in aliases}
_SEPARATORS = re.compile(r"[\s\-]+")


def column_field(name: str) -> str | None:
    """The subscriber field a column (or JSON key) fills: `E-mail` -> email; None when unknown."""
    return _COLUMNS.get(_SEPARATORS.sub("_", name.strip().lower()))


def raw_index(field: str) -> int:
    """Where a field's value sits among a row's raw values."""
    return RAW_GROUPS if field == "groups" else FIELDS.index(field)
