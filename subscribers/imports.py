"""Subscriber imports: a CSV file or a JSON array, read row by row and upserted in chunks.

`import_create` stores the job and its payload; the Celery task calls
`import_run`, which:

- reads rows one at a time (CSV: the header is line 1, columns matched by name,
  case-insensitively, with aliases, unknown ones ignored; JSON: an array of
  objects, line = 1-based index);
- normalizes each row (phone to E.164 in the organization's region, email to
  lower case) and skips a bad one with `{line, message}` naming the field;
- a phone or email already seen on an earlier row of the same file: the later
  row is skipped and reported (the first one wins), whatever the chunk sizes;
- writes chunks of IMPORT_CHUNK_ROWS rows, each in one transaction with the
  job's counters, set-based (one lookup, one insert, one update, one membership
  insert per chunk): a row matching an existing subscriber by phone or email
  updates it (non-empty values only) when `update_existing`, else counts as
  skipped and leaves it untouched (groups included); a row whose phone is one
  subscriber's and email another's is reported, not merged.

`total == created + updated + skipped` after every chunk. Errors beyond
MAX_REPORTED_ERRORS are counted in `skipped` but not listed.
"""

import contextlib
import csv
import datetime
import io
import json
import logging
import operator
import queue
import re
import threading
import time
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from phonenumbers import PhoneMetadata

from connext.models import Organization, User
from groups.models import Group
from subscribers.addresses import InvalidAddress, normalize_phone
from subscribers.fetch import FetchError, UnsafeURL, fetch, post_json
from subscribers.models import ImportJob, Subscriber

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_CHUNK_ROWS = 5000
MAX_REPORTED_ERRORS = 1000
FETCH_TIMEOUT_SECONDS = 120.0
NOTIFY_TIMEOUT_SECONDS = 10.0

# A row is a tuple: (line, first, last, phone, email, address, city, state, zip, enabled, text,
# group ids). "Not given" is "" for the text fields and None for the two flags: an update
# keeps the current value, a new subscriber gets the default. The row's own groups (a
# `groups` column, as GET /subscribers/export writes it) are added to the job's.
FIELDS = ("first", "last", "phone", "email", "address", "city", "state", "zip", "enabled", "text")
LINE, FIRST, LAST, PHONE, EMAIL, ADDRESS, CITY, STATE, ZIP, ENABLED, TEXT, GROUPS = range(12)
RAW_GROUPS = len(FIELDS)  # raw values: FIELDS, then the groups cell
TEXT_FIELDS = ("first", "last", "address", "city", "state", "zip")

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
_MAX_LENGTH = {name: Subscriber._meta.get_field(name).max_length for name in (*TEXT_FIELDS, "phone", "email")}


class ImportFailed(Exception):
    """The file as a whole can't be read on (bad encoding, broken JSON, no header...)."""


class _Lost(Exception):
    """Another run of the same job committed first (a redelivered task): stop quietly."""


def max_import_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)


def column_field(name: str) -> str | None:
    """The subscriber field a column (or JSON key) fills: `E-mail` -> email; None when unknown."""
    return _COLUMNS.get(_SEPARATORS.sub("_", name.strip().lower()))


def _raw_index(field: str) -> int:
    return RAW_GROUPS if field == "groups" else FIELDS.index(field)


# --- normalization -----------------------------------------------------------------
#
# phonenumbers.parse + is_valid_number cost ~50 us per number, most of an
# import's time. NANP numbers written as 10 digits (optionally +1 / 1, spaces,
# dots, dashes, parentheses) get the same answer from the same metadata
# faster: the country code and national number are read off directly, and
# validity is phonenumbers' own algorithm (region chosen by leading digits or
# number type, then its number-type patterns) with the patterns compiled once.
# tests/subscribers/test_imports.py checks both agree on many numbers.

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


def import_phone(raw: str, region: str) -> str:
    """normalize_phone(raw, region), faster for the common NANP spellings."""
    match = _NANP_WRITTEN.fullmatch(raw.strip())
    if match is not None and (match[1] == "+1" or region in _NANP_REGIONS):
        nsn = (match[2] or match[3]) + match[4] + match[5]
        if _nanp_is_valid(nsn):
            return "+1" + nsn
        raise InvalidAddress(f"{raw!r} is not a valid phone number.")
    return normalize_phone(raw, region)


# Django's EmailValidator, step by step; the domain part's verdict is cached
# (a list has few distinct domains and its regular expression is the slow part).
_EMAIL_USER = re.compile(validate_email.user_regex.pattern, validate_email.user_regex.flags)


@lru_cache(maxsize=8192)
def _email_domain_ok(domain: str) -> bool:
    return domain in validate_email.domain_allowlist or validate_email.validate_domain_part(domain)


def import_email(raw: str) -> str:
    """normalize_email(raw): lower-cased, validated as Django's validate_email does."""
    text = raw.strip().lower()
    if text and "@" in text and len(text) <= 320:
        user, domain = text.rsplit("@", 1)
        if _EMAIL_USER.match(user) and _email_domain_ok(domain):
            return text
    raise InvalidAddress(f"{raw!r} is not a valid email address.")


class _RowError(Exception):
    pass


def _text(field: str, value) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        if type(value) is not int:
            raise _RowError(f"{field}: Must be a string.")
        value = str(value)
    value = value.strip()
    if len(value) > _MAX_LENGTH[field]:
        raise _RowError(f"{field}: At most {_MAX_LENGTH[field]} characters.")
    if "\x00" in value:
        raise _RowError(f"{field}: Must not contain NUL characters.")
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
    raise _RowError(f"{field}: Must be a boolean: true/false or 0/1.")


_LIMITS = tuple(_MAX_LENGTH[name] for name in FIELDS[:8])


def _texts(raw) -> list[str]:
    """The 8 text values (first..zip) stripped; _RowError for a bad type or length."""
    try:
        values = [value.strip() for value in raw[:8]]
    except AttributeError:  # from JSON: a number, boolean, null...: one by one, for the right message
        return [_text(name, value) for name, value in zip(FIELDS, raw[:8], strict=False)]
    # A cheap screen first (phone and zip allow 20 characters, the others at least 100; PostgreSQL
    # text can't hold NUL), then the detail.
    if len(values[2]) > 20 or len(values[7]) > 20 or max(map(len, values)) > 100 or "\x00" in "".join(values):
        for name, value, limit in zip(FIELDS, values, _LIMITS, strict=False):
            if len(value) > limit:
                raise _RowError(f"{name}: At most {limit} characters.")
            if "\x00" in value:
                raise _RowError(f"{name}: Must not contain NUL characters.")
    return values


_GROUP_SEPARATORS = re.compile(r"[\s,;|]+")


def _group_ids(cell, groups: Mapping[int, int]) -> tuple[int, ...]:
    """The ids of the groups a `groups` cell names by number: `1 4`, `1,4`, or a JSON [1, 4]."""
    if cell is None or cell == "":
        return ()
    if isinstance(cell, str):
        parts = [part for part in _GROUP_SEPARATORS.split(cell.strip()) if part]
        if not all(part.isascii() and part.isdigit() for part in parts):
            raise _RowError("groups: Must be group numbers, e.g. 1 4.")
        numbers = [int(part) for part in parts]
    elif isinstance(cell, list) and all(type(n) is int for n in cell):
        numbers = cell
    elif type(cell) is int:
        numbers = [cell]
    else:
        raise _RowError("groups: Must be group numbers, e.g. [1, 4].")
    unknown = sorted({n for n in numbers if n not in groups})
    if unknown:
        raise _RowError(f"groups: Unknown group number(s): {', '.join(map(str, unknown))}.")
    return tuple(sorted({groups[n] for n in numbers}))


def clean_row(line: int, raw, region: str, groups: Mapping[int, int] | None = None) -> tuple:
    """A row tuple from the raw values (FIELDS, then the groups cell; "" or None = not given);
    `groups` maps the organization's group numbers to ids. _RowError names the field."""
    first, last, phone, email, address, city, state, zip_ = _texts(raw)
    if phone:
        try:
            phone = import_phone(phone, region)
        except InvalidAddress as exc:
            raise _RowError(f"phone: {exc}") from None
    if email:
        try:
            email = import_email(email)
        except InvalidAddress as exc:
            raise _RowError(f"email: {exc}") from None
    enabled, text = raw[8], raw[9]
    enabled = None if enabled == "" or enabled is None else _flag("enabled", enabled)
    text = None if text == "" or text is None else _flag("text", text)
    if not phone and not email:
        raise _RowError("phone: A phone or an email is required.")
    group_ids = _group_ids(raw[RAW_GROUPS], groups or {}) if len(raw) > RAW_GROUPS else ()
    return (line, first, last, phone, email, address, city, state, zip_, enabled, text, group_ids)


# --- reading ---------------------------------------------------------------------------


def detect_format(name: str = "", content_type: str = "", head: bytes = b"") -> str:
    """ "csv" or "json": by file extension, then content type, then the first non-space character."""
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix == "json":
        return "json"
    if suffix in ("csv", "txt", "tsv"):
        return "csv"
    content_type = content_type.split(";", 1)[0].strip().lower()
    if content_type in ("application/json", "text/json") or content_type.endswith("+json"):
        return "json"
    if content_type in ("text/csv", "application/csv", "text/tab-separated-values", "application/vnd.ms-excel"):
        return "csv"
    return "json" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[" else "csv"


def _lines(payload: bytes) -> Iterator[str]:
    """The payload's lines, decoded one at a time (a bad byte fails at its own line)."""
    # Old Mac exports end lines with a bare CR; everything else has LF (or CRLF).
    lines = payload.split(b"\r") if b"\n" not in payload and b"\r" in payload else io.BytesIO(payload)
    for number, line in enumerate(lines, 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportFailed(f"Line {number} is not UTF-8 text: the file must be encoded in UTF-8.") from None
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield text


def _csv_records(payload: bytes) -> Iterator[tuple[int, tuple | list]]:
    lines = _lines(payload)
    first = next(lines, "")
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    delimiter = max(counts, key=counts.get) if any(counts.values()) else ","

    def all_lines():
        yield first
        yield from lines

    reader = csv.reader(all_lines(), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFailed("The file is empty.")
        columns: dict[int, list[int]] = {}
        for index, name in enumerate(header):
            field = column_field(name)
            if field is not None:
                columns.setdefault(_raw_index(field), []).append(index)
        if FIELDS.index("phone") not in columns and FIELDS.index("email") not in columns:
            raise ImportFailed(
                "The header row (line 1) has no phone or email column; phone columns may be named "
                f"{', '.join(ALIASES['phone'])}, email columns {', '.join(ALIASES['email'])}."
            )
        # One C call per record picks the raw values; a field without a column reads the "" appended last.
        pick = operator.itemgetter(*(columns[field][0] if field in columns else -1 for field in range(RAW_GROUPS + 1)))
        several = [(field, indexes) for field, indexes in columns.items() if len(indexes) > 1]
        width = max(max(indexes) for indexes in columns.values()) + 1
        end = reader.line_num
        for record in reader:
            line, end = end + 1, reader.line_num
            if not any(record):
                continue  # a blank line
            if len(record) < width:
                record += [""] * (width - len(record))
            record.append("")
            raw = pick(record)
            if several:  # e.g. phone and mobile columns: the first non-empty one
                raw = list(raw)
                for field, indexes in several:
                    raw[field] = next((record[i] for i in indexes if record[i].strip()), "")
            yield line, raw
    except csv.Error as exc:
        raise ImportFailed(f"Line {reader.line_num}: {exc}.") from None


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _json_records(payload: bytes) -> Iterator[tuple[int, list | None]]:
    """(index, raw values, or None for a non-object) for each element of a JSON array, decoded one at a time."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"The file is not UTF-8 text (byte {exc.start}).") from None
    decoder = json.JSONDecoder()
    pos = _JSON_SPACE.match(text).end()
    if text[pos : pos + 1] != "[":
        raise ImportFailed("A JSON import must be an array of objects.")
    pos = _JSON_SPACE.match(text, pos + 1).end()
    if text[pos : pos + 1] == "]":
        return
    keys: dict[str, int | None] = {}
    index = 0
    try:
        while True:
            value, pos = decoder.raw_decode(text, pos)
            index += 1
            if not isinstance(value, dict):
                value = None
            else:
                raw = [""] * (RAW_GROUPS + 1)
                for key, cell in value.items():
                    field = keys.get(key, -1)
                    if field == -1:
                        name = column_field(key)
                        field = keys[key] = _raw_index(name) if name else None
                    if field is not None and cell is not None and cell != "" and raw[field] == "":
                        raw[field] = cell
                value = raw
            yield index, value
            pos = _JSON_SPACE.match(text, pos).end()
            char = text[pos : pos + 1]
            if char == "]":
                if _JSON_SPACE.match(text, pos + 1).end() != len(text):
                    raise ImportFailed("Unexpected data after the JSON array.")
                return
            if char != ",":
                raise json.JSONDecodeError("Expecting ',' or ']'", text, pos)
            pos = _JSON_SPACE.match(text, pos + 1).end()
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    except RecursionError:
        raise ImportFailed("Invalid JSON: nested too deeply.") from None


def read_rows(
    payload: bytes, source_format: str, region: str, groups: Mapping[int, int] | None = None
) -> Iterator[tuple[int, tuple | None, str | None]]:
    """(line, row, None) or (line, None, error message) for every non-blank record, in file order;
    `groups` maps the organization's group numbers to ids (for a `groups` column).

    ImportFailed when the file can't be read on; rows before it were yielded.
    """
    if not payload.strip():
        raise ImportFailed("The file is empty.")
    records = _json_records(payload) if source_format == "json" else _csv_records(payload)
    seen_phones: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for line, raw in records:
        if raw is None:
            yield line, None, "Must be a JSON object."
            continue
        try:
            row = clean_row(line, raw, region, groups)
        except _RowError as exc:
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


_COPY_FLAG = {None: "\\N", True: "t", False: "f"}


def _copy_line(row: tuple) -> str:
    """The row in PostgreSQL's COPY text format (the staging table's columns)."""
    texts = "\t".join(row[1:9])
    if texts.count("\t") != 7 or "\\" in texts or "\n" in texts or "\r" in texts:
        texts = "\t".join(
            v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r") for v in row[1:9]
        )
    groups = ",".join(map(str, row[GROUPS]))
    return f"{row[0]}\t{texts}\t{_COPY_FLAG[row[ENABLED]]}\t{_COPY_FLAG[row[TEXT]]}\t{{{groups}}}\n"


class _Chunk(NamedTuple):
    rows: list[tuple]  # valid rows
    errors: list[tuple[int, str]]  # (line, message) of bad rows
    count: int  # records read: len(rows) + len(errors)
    copy_data: bytes | None  # the valid rows in COPY text format, when asked for


def _chunks(
    payload: bytes,
    source_format: str,
    region: str,
    *,
    skip: int,
    size: int,
    copy_format: bool,
    groups: Mapping[int, int] | None = None,
) -> Iterator[_Chunk]:
    """Chunks of `size` records, after the first `skip` records."""

    def chunk() -> _Chunk:
        data = "".join(map(_copy_line, rows)).encode() if copy_format else None
        return _Chunk(rows, errors, len(rows) + len(errors), data)

    seen = 0
    rows: list[tuple] = []
    errors: list[tuple[int, str]] = []
    for line, row, error in read_rows(payload, source_format, region, groups):
        seen += 1
        if not seen & 127:
            # Hand the GIL over now and then: the writing thread waiting on the database gets it back
            # within ~1 ms of its answer instead of the interpreter's 5 ms switch interval.
            time.sleep(0)
        if seen <= skip:
            continue  # committed by an earlier run: read again only to know the file's earlier phones/emails
        if row is not None:
            rows.append(row)
        else:
            errors.append((line, error))
        if len(rows) + len(errors) >= size:
            yield chunk()
            rows, errors = [], []
    if rows or errors:
        yield chunk()


_END = object()


def _read_ahead(items: Iterator, depth: int = 2) -> Iterator:
    """`items`, produced by a thread up to `depth` ahead of the consumer.

    Reading and normalizing rows is pure Python and touches no database; the
    consumer spends its time waiting on PostgreSQL, which releases the GIL, so
    the two overlap. The thread's exceptions are raised here, in order.
    """
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((None, exc))

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = ahead.get()
            if exc is not None:
                raise exc
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


# --- writing ---------------------------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


Matches = dict[int, tuple[int | None, int | None]]  # line -> (id of the subscriber with its phone, ... its email)
Outcome = tuple[int, int, int, list[tuple[int, str]]]  # created, updated, skipped, [(line, error)]


def _classify(rows: list[tuple], matches: Matches, update_existing: bool) -> tuple[list, int, list]:
    """For rows matching existing subscribers: ([(row, subscriber id) to update], skipped, errors)."""
    updates, skipped, errors = [], 0, []
    claimed: dict[int, int] = {}  # subscriber id -> the line updating it
    for row in rows:
        by_phone, by_email = matches.get(row[LINE], (None, None))
        target = by_phone or by_email
        if target is None:  # it conflicted, then the subscriber went away (deleted meanwhile)
            errors.append((row[LINE], "phone: Changed by another request during the import; import it again."))
        elif by_phone and by_email and by_phone != by_email:
            errors.append(
                (row[LINE], f"email: {row[EMAIL]} belongs to another subscriber than phone {row[PHONE]} (not merged).")
            )
        elif not update_existing:
            skipped += 1
        elif target in claimed:
            errors.append((row[LINE], f"phone: Matches the same subscriber as line {claimed[target]}."))
        else:
            claimed[target] = row[LINE]
            updates.append((row, target))
    return updates, skipped + len(errors), errors


class _PostgresWriter:
    """One chunk in a few set-based statements: COPY into a temporary table, INSERT ... ON CONFLICT
    DO NOTHING (the unique indexes decide what is new, no lookup), then a lookup and an UPDATE for
    the rows that conflicted only.

    Identifiers come from the models' meta; every value is a parameter.
    """

    STAGE = "connext_import_stage"
    STAGE_COLUMNS = (
        "line integer, first text, last text, phone text, email text, address text, city text, state text, "
        "zip text, enabled boolean, text boolean, groups bigint[]"
    )

    def __init__(self, organization_id: int, group_ids: list[int]):
        self.params = {"org": organization_id, "groups": group_ids}
        meta, through = Subscriber._meta, Subscriber.groups.through._meta
        table, org, stage = _q(meta.db_table), _q(meta.get_field("organization").column), self.STAGE
        columns = [_q(meta.get_field(name).column) for name in FIELDS]
        phone, email = columns[FIELDS.index("phone")], columns[FIELDS.index("email")]
        # Memberships of the written rows: the job's groups and each row's own (stage.groups).
        member_columns = f"{_q(through.get_field('subscriber').column)}, {_q(through.get_field('group').column)}"
        members = (
            f", members AS (INSERT INTO {_q(through.db_table)} ({member_columns}) "  # noqa: S608
            "SELECT DISTINCT r.id, g.id FROM ({rows}) AS r "
            "CROSS JOIN LATERAL unnest(r.groups || %(groups)s::bigint[]) AS g(id) ON CONFLICT DO NOTHING)"
        )
        # An inserted row is its stage row's, found again by phone (else email): unique in the file.
        inserted_rows = (
            f"SELECT w.id, st.groups FROM written w JOIN {stage} st ON st.phone = w.{phone} WHERE w.{phone} <> '' "  # noqa: S608
            f"UNION ALL SELECT w.id, st.groups FROM written w JOIN {stage} st ON st.email = w.{email} "
            f"WHERE w.{phone} = ''"
        )
        insert = (
            f"WITH written AS (INSERT INTO {table} ({org}, {', '.join(columns)}, created_at, updated_at) "  # noqa: S608
            f"SELECT %(org)s, {', '.join(FIELDS[:8])}, COALESCE(enabled, TRUE), COALESCE(text, FALSE), "
            f"%(now)s, %(now)s FROM {stage} ORDER BY line ON CONFLICT DO NOTHING RETURNING id, {phone}, {email})"
        )
        self.insert_sql = f"{insert} SELECT {phone}, {email} FROM written"  # noqa: S608
        self.insert_members_sql = f"{insert}{members.format(rows=inserted_rows)} SELECT {phone}, {email} FROM written"  # noqa: S608
        self.lookup_sql = (
            f"SELECT id, {phone}, {email} FROM {table} WHERE {org} = %(org)s AND ("  # noqa: S608
            f"({phone} = ANY(%(phones)s::text[]) AND {phone} <> '') OR "
            f"({email} = ANY(%(emails)s::text[]) AND {email} <> ''))"
        )
        given = [f"NULLIF(st.{name}, '')" for name in FIELDS[:8]] + ["st.enabled", "st.text"]
        assignments = ", ".join(f"{c} = COALESCE({v}, s.{c})" for v, c in zip(given, columns, strict=True))
        update = (
            "WITH m AS (SELECT * FROM unnest(%(lines)s::integer[], %(ids)s::bigint[]) AS m(line, id)), "  # noqa: S608
            f"written AS (UPDATE {table} s SET {assignments}, updated_at = %(now)s "
            f"FROM m JOIN {stage} st ON st.line = m.line WHERE s.id = m.id AND s.{org} = %(org)s "
            "RETURNING s.id, st.groups)"
        )
        self.update_sql = f"{update} SELECT count(*) FROM written"  # noqa: S608
        self.update_members_sql = (
            f"{update}{members.format(rows='SELECT id, groups FROM written')} SELECT count(*) FROM written"  # noqa: S608
        )

    def upsert(self, rows: list[tuple], update_existing: bool, copy_data: bytes | None = None) -> Outcome:
        params = {**self.params, "now": timezone.now()}
        with_members = bool(self.params["groups"]) or any(row[GROUPS] for row in rows)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.STAGE} ({self.STAGE_COLUMNS}) ON COMMIT DELETE ROWS"
            )
            # Already empty, unless this chunk runs inside an outer transaction (a test, a caller's atomic block).
            cursor.execute(f"DELETE FROM {self.STAGE}")  # noqa: S608
            with cursor.copy(f"COPY {self.STAGE} FROM STDIN") as copy:
                if copy_data is not None:
                    copy.write(copy_data)  # formatted by the reading thread
                else:
                    for row in rows:
                        copy.write_row((*row[:GROUPS], list(row[GROUPS])))
            cursor.execute(self.insert_members_sql if with_members else self.insert_sql, params)
            written = cursor.fetchall()
            if len(written) == len(rows):
                return len(written), 0, 0, []
            # Phones and emails are unique within the file, so either one identifies the written row.
            phones = {phone for phone, _ in written if phone}
            emails = {email for _, email in written if email}
            rest = [row for row in rows if row[PHONE] not in phones and row[EMAIL] not in emails]
            params["phones"] = [row[PHONE] for row in rest if row[PHONE]]
            params["emails"] = [row[EMAIL] for row in rest if row[EMAIL]]
            cursor.execute(self.lookup_sql, params)
            by_phone, by_email = {}, {}
            for pk, phone, email in cursor.fetchall():
                by_phone[phone], by_email[email] = pk, pk
            by_phone.pop("", None)
            by_email.pop("", None)
            matches = {row[LINE]: (by_phone.get(row[PHONE]), by_email.get(row[EMAIL])) for row in rest}
            updates, skipped, errors = _classify(rest, matches, update_existing)
            updated = 0
            if updates:
                params["lines"] = [row[LINE] for row, _ in updates]
                params["ids"] = [target for _, target in updates]
                cursor.execute(self.update_members_sql if with_members else self.update_sql, params)
                updated = cursor.fetchone()[0]
        return len(written), updated, skipped, errors


class _OrmWriter:
    """The same outcome with the ORM's bulk operations (SQLite and other databases): one lookup of
    the chunk's phones and emails, bulk_create, bulk_update, and the group memberships."""

    LOOKUP_BATCH = 400

    def __init__(self, organization_id: int, group_ids: list[int]):
        self.organization_id = organization_id
        self.group_ids = group_ids

    def _lookup(self, field: str, values: list[str], found: dict[int, Subscriber]) -> dict[str, int]:
        by_value = {}
        scope = Subscriber.objects.filter(organization_id=self.organization_id)
        for start in range(0, len(values), self.LOOKUP_BATCH):
            for subscriber in scope.filter(**{f"{field}__in": values[start : start + self.LOOKUP_BATCH]}):
                by_value[getattr(subscriber, field)] = subscriber.pk
                found[subscriber.pk] = subscriber
        return by_value

    def upsert(self, rows: list[tuple], update_existing: bool, copy_data: bytes | None = None) -> Outcome:
        found: dict[int, Subscriber] = {}
        by_phone = self._lookup("phone", [row[PHONE] for row in rows if row[PHONE]], found)
        by_email = self._lookup("email", [row[EMAIL] for row in rows if row[EMAIL]], found)
        new, existing, matches = [], [], {}
        for row in rows:
            match = (by_phone.get(row[PHONE]), by_email.get(row[EMAIL]))
            if match == (None, None):
                new.append(row)
            else:
                existing.append(row)
                matches[row[LINE]] = match
        updates, skipped, errors = _classify(existing, matches, update_existing)
        now = timezone.now()
        created = [
            Subscriber(
                organization_id=self.organization_id,
                **{name: row[i] for i, name in enumerate(FIELDS[:8], 1)},
                enabled=True if row[ENABLED] is None else row[ENABLED],
                text=bool(row[TEXT]),
                created_at=now,
                updated_at=now,
            )
            for row in new
        ]
        Subscriber.objects.bulk_create(created, batch_size=500)
        changed = []
        for row, target in updates:
            subscriber = found[target]
            for i, name in enumerate(FIELDS, 1):
                if row[i] is not None and row[i] != "":
                    setattr(subscriber, name, row[i])
            subscriber.updated_at = now
            changed.append(subscriber)
        if changed:
            Subscriber.objects.bulk_update(changed, [*FIELDS, "updated_at"], batch_size=500)
        written = [
            *zip(created, new, strict=True),
            *((subscriber, row) for subscriber, (row, _) in zip(changed, updates, strict=True)),
        ]
        through = Subscriber.groups.through
        memberships = [
            through(subscriber_id=subscriber.pk, group_id=group_id)
            for subscriber, row in written
            for group_id in {*self.group_ids, *row[GROUPS]}
        ]
        if memberships:
            through.objects.bulk_create(memberships, ignore_conflicts=True, batch_size=1000)
        return len(created), len(changed), skipped, errors


# --- jobs ------------------------------------------------------------------------------


def import_job(organization: Organization, pk: int) -> ImportJob | None:
    """The organization's job `pk` without its payload (which may be megabytes), or None."""
    return ImportJob.objects.defer("payload").filter(organization=organization, pk=pk).first()


@transaction.atomic
def import_create(
    *,
    organization: Organization,
    created_by: User | None,
    source: str,
    source_format: str = "",
    payload: bytes | None = None,
    group_numbers: list[int] | None = None,
    update_existing: bool = True,
    notify_url: str = "",
) -> ImportJob:
    """Store a queued job (a URL job has no payload yet) and enqueue it after the commit."""
    from subscribers.tasks import run_import  # the task module imports this one

    job = ImportJob.objects.create(
        organization=organization,
        created_by=created_by,
        source=source[:2048],
        source_format=source_format,
        payload=payload,
        group_numbers=list(group_numbers or []),
        update_existing=update_existing,
        notify_url=notify_url,
    )
    # A broker down at commit: the job stays queued and the sweeper enqueues it again.
    transaction.on_commit(lambda: run_import.delay(job.pk), robust=True)
    return job


class _Progress:
    def __init__(self, job: ImportJob):
        self.total, self.created, self.updated, self.skipped = job.total, job.created, job.updated, job.skipped
        self.errors = list(job.errors)


def _write_chunk(job: ImportJob, writer, progress: _Progress, chunk: _Chunk) -> None:
    """One chunk and the job's counters, in one transaction; retried when a concurrent write took a phone/email."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                # The row lock orders two runs of one job; the first to commit a chunk wins.
                state = ImportJob.objects.select_for_update().filter(pk=job.pk).values_list("status", "total").first()
                if state != (ImportJob.Status.RUNNING, progress.total):
                    raise _Lost()
                created, updated, skipped, db_errors = (
                    writer.upsert(chunk.rows, job.update_existing, chunk.copy_data) if chunk.rows else (0, 0, 0, [])
                )
                reported = sorted(chunk.errors + db_errors)[: max(0, MAX_REPORTED_ERRORS - len(progress.errors))]
                fields = {
                    "total": progress.total + chunk.count,
                    "created": progress.created + created,
                    "updated": progress.updated + updated,
                    "skipped": progress.skipped + skipped + len(chunk.errors),
                }
                if reported:
                    fields["errors"] = progress.errors + [{"line": line, "message": m} for line, m in reported]
                ImportJob.objects.filter(pk=job.pk).update(**fields)
        except IntegrityError:
            # A concurrent request took a phone/email this chunk was writing: the chunk
            # was rolled back whole; the next attempt sees that subscriber as existing.
            if attempt == 2:
                raise
            continue
        progress.total, progress.created = fields["total"], fields["created"]
        progress.updated, progress.skipped = fields["updated"], fields["skipped"]
        progress.errors = fields.get("errors", progress.errors)
        return


def _load_payload(job: ImportJob) -> tuple[bytes, str]:
    """The job's file; a URL job fetches it first and keeps it, so a restart reads the same bytes."""
    if job.payload is not None:
        return bytes(job.payload), job.source_format or "csv"
    try:
        fetched = fetch(job.source, max_bytes=max_import_bytes(), timeout=FETCH_TIMEOUT_SECONDS)
    except (UnsafeURL, FetchError) as exc:
        raise ImportFailed(str(exc)) from None
    source_format = detect_format(urlsplit(fetched.url).path, fetched.content_type, fetched.body[:64])
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        payload=fetched.body, source_format=source_format
    )
    return fetched.body, source_format


def _process(job: ImportJob) -> None:
    org = job.organization
    payload, source_format = _load_payload(job)
    groups = dict(Group.objects.filter(organization=org).values_list("number", "id"))  # for `groups` columns
    group_ids = [groups[number] for number in job.group_numbers if number in groups]
    writer_class = _PostgresWriter if connection.vendor == "postgresql" else _OrmWriter
    writer = writer_class(org.pk, group_ids)
    size = max(1, int(getattr(settings, "IMPORT_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)))
    progress = _Progress(job)
    # job.total rows were committed by an earlier run of this job (a worker that died): not again.
    copy_format = isinstance(writer, _PostgresWriter)
    chunks = _chunks(
        payload, source_format, org.default_region, skip=job.total, size=size, copy_format=copy_format, groups=groups
    )
    with contextlib.closing(_read_ahead(chunks)) as ahead:
        for chunk in ahead:
            _write_chunk(job, writer, progress, chunk)


def _finish(job: ImportJob, status: str, failure: str = "") -> ImportJob | None:
    """Mark the job ended (once: a second run finds it ended) and drop its payload."""
    ended = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=status, failure=failure, finished_at=timezone.now(), payload=None
    )
    if not ended:
        return None
    return ImportJob.objects.defer("payload").get(pk=job.pk)


# A job still queued this long after it was created lost its task message (a broker
# restart, a crash between the commit and the publish): the sweeper enqueues it again.
STALLED_AFTER = datetime.timedelta(minutes=5)


def stalled_import_ids() -> list[int]:
    """Ids of jobs queued for longer than STALLED_AFTER (across organizations: this is the sweeper's view)."""
    cutoff = timezone.now() - STALLED_AFTER
    return list(
        ImportJob.objects.filter(status=ImportJob.Status.QUEUED, created_at__lt=cutoff).values_list("id", flat=True)
    )


def import_run(*, job_id: int) -> ImportJob | None:
    """Process a queued job to `done` or `failed`; returns the job when this call ended it.

    Idempotent: a job already done or failed is left alone (None). A job left
    `running` by a worker that died resumes after the rows it had committed.
    Two runs of one job at once are safe (each chunk checks the committed row
    count under a row lock; the loser stops). Never raises for a bad file: the
    job fails with `failure` set, keeping the chunks already written.
    """
    job = ImportJob.objects.select_related("organization").filter(pk=job_id).first()
    if job is None or job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        return None
    if job.status == ImportJob.Status.QUEUED:
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).update(status=ImportJob.Status.RUNNING)
        job.status = ImportJob.Status.RUNNING
    try:
        _process(job)
    except _Lost:
        return None
    except ImportFailed as exc:
        return _finish(job, ImportJob.Status.FAILED, str(exc))
    except Exception as exc:
        logger.exception("Import %s failed", job.pk)
        failure = f"Internal error ({type(exc).__name__}); the rows imported before it are kept."
        return _finish(job, ImportJob.Status.FAILED, failure)
    return _finish(job, ImportJob.Status.DONE)


def import_notify(*, job: ImportJob) -> None:
    """POST the job object to its notifyUrl. Best effort: a failure is logged, never raised."""
    if not job.notify_url:
        return
    from subscribers.import_views import ImportJobSerializer  # the wire format lives with the view

    body = json.dumps(ImportJobSerializer(job).data).encode()
    try:
        status = post_json(job.notify_url, body, timeout=NOTIFY_TIMEOUT_SECONDS)
    except Exception as exc:
        logger.warning("Import %s: notifyUrl %s failed: %s", job.pk, job.notify_url, exc)
        return
    if not 200 <= status < 300:
        logger.warning("Import %s: notifyUrl %s answered HTTP %s", job.pk, job.notify_url, status)
