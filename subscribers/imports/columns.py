"""Which subscriber field a column fills, and the shape of a row as the import carries it.

A row is a tuple: (line, first, last, phone, email, address, city, state, zip, enabled, text,
whatsapp, group ids, attributes: a dict, or None when the row gives none). "Not given" is "" for
the text fields and None for the three flags: an update keeps the current value, a new subscriber gets the
default. The row's own groups (a `groups` column, as GET /subscribers/export writes it) are added
to the job's; its attributes are merged into an existing subscriber's.

Before it is checked, a row is its raw values: one per FIELDS, then the groups cell (RAW_GROUPS),
then (when the file has any) the attributes cell (RAW_ATTRIBUTES: a dict of name -> raw value).

Columns that are not a subscriber field become attributes (subscribers.attributes): `COLOR`, or
`attr.COLOR` as GET /subscribers/export writes it. The export's own read-only columns (`id`,
`phoneBlocked`, `emailBlocked`) and headers that cannot be an attribute name (`Favorite color`)
are ignored. A JSON record gives its attributes as an `attributes` object.
"""

import re

from subscribers.attributes import NAME, PREFIX
from subscribers.models import Subscriber

FIELDS = ("first", "last", "phone", "email", "address", "city", "state", "zip", "enabled", "text", "whatsapp")
LINE, FIRST, LAST, PHONE, EMAIL, ADDRESS, CITY, STATE, ZIP, ENABLED, TEXT, WHATSAPP, GROUPS, ATTRIBUTES = range(14)
RAW_GROUPS = len(FIELDS)  # raw values: FIELDS, then the groups cell
RAW_ATTRIBUTES = RAW_GROUPS + 1  # then, when the file has attributes, their cell
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
    "whatsapp": ("whatsapp",),
    "groups": ("groups", "group", "group_numbers"),
}
_COLUMNS = {alias: field for field, aliases in ALIASES.items() for alias in aliases}
_SEPARATORS = re.compile(r"[\s\-]+")


def column_field(name: str) -> str | None:
    """The subscriber field a column (or JSON key) fills: `E-mail` -> email; None when unknown."""
    return _COLUMNS.get(_SEPARATORS.sub("_", name.strip().lower()))


# Read-only columns of GET /subscribers/export: not attributes.
IGNORED = frozenset({"id", "phoneblocked", "emailblocked", "phone_blocked", "email_blocked"})


def attribute_column(name: str) -> str | None:
    """The attribute a column that is no subscriber field fills (`COLOR`, `attr.COLOR`), or None."""
    name = name.strip()
    name = name.removeprefix(PREFIX)
    if name.lower() in IGNORED or not NAME.fullmatch(name):
        return None
    return name


def raw_index(field: str) -> int:
    """Where a field's value sits among a row's raw values."""
    return RAW_GROUPS if field == "groups" else FIELDS.index(field)
