"""A record's raw values checked and normalized into a row, and a file's rows in order.

Each row is normalized (phone to E.164 in the organization's region, email to lower case); a
bad one is reported as `{line, message}`, the message starting with the field at fault. A
phone or email already seen on an earlier row of the same file: the later row is reported
(the first one wins).
"""

import re
from collections.abc import Iterator, Mapping

from subscribers import attributes
from subscribers.addresses import InvalidAddress, normalize_email, normalize_phone
from subscribers.imports.columns import EMAIL, FIELDS, MAX_LENGTH, PHONE, RAW_ATTRIBUTES, RAW_GROUPS
from subscribers.imports.readers import ImportFailed, records


class RowError(Exception):
    """One row is bad; the message names the field."""


def _text(field: str, value) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        if type(value) is not int:
            raise RowError(f"{field}: Must be a string.")
        value = str(value)
    value = value.strip()
    if len(value) > MAX_LENGTH[field]:
        raise RowError(f"{field}: At most {MAX_LENGTH[field]} characters.")
    if "\x00" in value:
        raise RowError(f"{field}: Must not contain NUL characters.")
    return value


_FLAGS = {"1": True, "true": True, "0": False, "false": False}


def _flag(field: str, value) -> bool | None:
    if value is None or value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str:
        value = value.strip()
        if not value:
            return None
        flag = _FLAGS.get(value.lower())
        if flag is not None:
            return flag
    raise RowError(f"{field}: Must be a boolean: true/false or 0/1.")


_LIMITS = tuple(MAX_LENGTH[name] for name in FIELDS[:8])


def _texts(raw) -> list[str]:
    """The 8 text values (first..zip) stripped; RowError for a bad type or length."""
    try:
        values = [value.strip() for value in raw[:8]]
    except AttributeError:  # from JSON: a number, boolean, null...: one by one, for the right message
        return [_text(name, value) for name, value in zip(FIELDS, raw[:8], strict=False)]
    # A cheap screen first (phone and zip allow 20 characters, the others at least 100; PostgreSQL
    # text can't hold NUL), then the detail.
    if len(values[2]) > 20 or len(values[7]) > 20 or max(map(len, values)) > 100 or "\x00" in "".join(values):
        for name, value, limit in zip(FIELDS, values, _LIMITS, strict=False):
            if len(value) > limit:
                raise RowError(f"{name}: At most {limit} characters.")
            if "\x00" in value:
                raise RowError(f"{name}: Must not contain NUL characters.")
    return values


_GROUP_SEPARATORS = re.compile(r"[\s,;|]+")


def _group_ids(cell, groups: Mapping[int, int]) -> tuple[int, ...]:
    """The ids of the groups a `groups` cell names by number: `1 4`, `1,4`, or a JSON [1, 4]."""
    if cell is None or cell == "":
        return ()
    if isinstance(cell, str):
        parts = [part for part in _GROUP_SEPARATORS.split(cell.strip()) if part]
        if not all(part.isascii() and part.isdigit() for part in parts):
            raise RowError("groups: Must be group numbers, e.g. 1 4.")
        numbers = [int(part) for part in parts]
    elif isinstance(cell, list) and all(type(n) is int for n in cell):
        numbers = cell
    elif type(cell) is int:
        numbers = [cell]
    else:
        raise RowError("groups: Must be group numbers, e.g. [1, 4].")
    unknown = sorted({n for n in numbers if n not in groups})
    if unknown:
        raise RowError(f"groups: Unknown group number(s): {', '.join(map(str, unknown))}.")
    return tuple(sorted({groups[n] for n in numbers}))


def clean_row(line: int, raw, region: str, groups: Mapping[int, int] | None = None) -> tuple:
    """A row tuple from the raw values (FIELDS, then the groups cell; "" or None = not given);
    `groups` maps the organization's group numbers to ids. RowError names the field."""
    first, last, phone, email, address, city, state, zip_ = _texts(raw)
    if phone:
        try:
            phone = normalize_phone(phone, region)
        except InvalidAddress as exc:
            raise RowError(f"phone: {exc}") from None
    if email:
        try:
            email = normalize_email(email)
        except InvalidAddress as exc:
            raise RowError(f"email: {exc}") from None
    enabled, text, whatsapp = raw[8], raw[9], raw[10]
    enabled = None if enabled == "" or enabled is None else _flag("enabled", enabled)
    text = None if text == "" or text is None else _flag("text", text)
    whatsapp = None if whatsapp == "" or whatsapp is None else _flag("whatsapp", whatsapp)
    if not phone and not email:
        raise RowError("phone: A phone or an email is required.")
    group_ids = _group_ids(raw[RAW_GROUPS], groups or {}) if len(raw) > RAW_GROUPS else ()
    custom = _attributes(raw[RAW_ATTRIBUTES]) if len(raw) > RAW_ATTRIBUTES else None
    return (line, first, last, phone, email, address, city, state, zip_, enabled, text, whatsapp, group_ids, custom)


def _attributes(cell) -> dict | None:
    """A row's attributes checked (subscribers.attributes); None when it gives none."""
    if cell is None or cell == {}:
        return None
    try:
        return attributes.clean(cell)
    except attributes.InvalidAttributes as exc:
        raise RowError(f"attributes: {exc}") from None


def read_rows(
    payload: bytes, source_format: str, region: str, groups: Mapping[int, int] | None = None
) -> Iterator[tuple[int, tuple | None, str | None]]:
    """(line, row, None) or (line, None, error message) for every non-blank record, in file order;
    `groups` maps the organization's group numbers to ids (for a `groups` column).

    ImportFailed when the file can't be read on; rows before it were yielded.
    """
    if not payload.strip():
        raise ImportFailed("The file is empty.")
    seen_phones: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for line, raw in records(payload, source_format):
        if raw is None:
            yield line, None, "Must be a JSON object."
            continue
        try:
            row = clean_row(line, raw, region, groups)
        except RowError as exc:
            yield line, None, str(exc)
            continue
        phone, email = row[PHONE], row[EMAIL]
        earlier = phone and seen_phones.get(phone)
        if earlier:
            yield line, None, f"phone: {phone} is already on line {earlier}."
            continue
        earlier = email and seen_emails.get(email)
        if earlier:
            yield line, None, f"email: {email} is already on line {earlier}."
            continue
        if phone:
            seen_phones[phone] = line
        if email:
            seen_emails[email] = line
        yield line, row, None
