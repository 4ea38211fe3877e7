"""A CSV file or a JSON array, read one record at a time into raw values (columns.py).

CSV: the header is line 1, columns matched by name, case-insensitively, with aliases, unknown
ones ignored; a record's line is where it starts in the file. JSON: an array of objects, the
line is the 1-based index. A record's raw values are still unchecked (rows.py checks them).
"""

import csv
import io
import json
import operator
import re
from collections.abc import Iterator

from subscribers.imports.columns import ALIASES, FIELDS, RAW_GROUPS, attribute_column, column_field, raw_index


class ImportFailed(Exception):
    """The file as a whole can't be read on (bad encoding, broken JSON, no header...)."""


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
        attribute_columns: list[tuple[int, str]] = []  # (index, attribute name)
        for index, name in enumerate(header):
            field = column_field(name)
            if field is not None:
                columns.setdefault(raw_index(field), []).append(index)
            elif (attribute := attribute_column(name)) is not None:
                attribute_columns.append((index, attribute))
        if FIELDS.index("phone") not in columns and FIELDS.index("email") not in columns:
            raise ImportFailed(
                "The header row (line 1) has no phone or email column; phone columns may be named "
                f"{', '.join(ALIASES['phone'])}, email columns {', '.join(ALIASES['email'])}."
            )
        # One C call per record picks the raw values; a field without a column reads the "" appended last.
        pick = operator.itemgetter(*(columns[field][0] if field in columns else -1 for field in range(RAW_GROUPS + 1)))
        several = [(field, indexes) for field, indexes in columns.items() if len(indexes) > 1]
        width = max(max(indexes) for indexes in columns.values()) + 1
        if attribute_columns:
            width = max(width, attribute_columns[-1][0] + 1)
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
            if attribute_columns:  # an empty cell gives no value (an update keeps the current one)
                raw = (*raw, {name: record[i].strip() for i, name in attribute_columns if record[i].strip()})
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
                if "attributes" in value:
                    raw.append(value["attributes"])
                for key, cell in value.items():
                    field = keys.get(key, -1)
                    if field == -1:
                        name = column_field(key)
                        field = keys[key] = raw_index(name) if name else None
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


def records(payload: bytes, source_format: str) -> Iterator[tuple[int, tuple | list | None]]:
    """(line, raw values) for each non-blank record of a "csv" or "json" file, in file order;
    a JSON element that is not an object has None for its raw values."""
    return _json_records(payload) if source_format == "json" else _csv_records(payload)
