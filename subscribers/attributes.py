"""Custom attributes of a subscriber: a small JSON object of the organization's own fields.

Rules (the same for the API, imports and filters):
- at most MAX_KEYS keys; a name matches NAME (a letter, then letters, digits or `_`, 40 at most),
  case-sensitive (`COLOR` and `color` are two attributes);
- a value is a string (at most MAX_STRING characters; a date is written as a string,
  `2026-12-05`), a finite number or a boolean; `null` in a PATCH removes the key;
- the whole object, as compact JSON, is at most MAX_BYTES bytes.

Filters (`GET /subscribers?attr.COLOR=BLACK`, a blast's or segment's `where`) are equalities
on one attribute; several combine with AND. A query string value is text, so `attr.AGE=42`
matches the string "42" and the number 42, `attr.VIP=true` the string and the boolean. On
PostgreSQL each equality is a JSONB containment (`attributes @> '{"COLOR": "BLACK"}'`) that the
GIN index (jsonb_path_ops, migration 0004) answers; SQLite compares `json_extract` per row.

A filter on an attribute the organization never used is a 400. "Used" is kept cheaply in
`AttributeKey`: every write of attributes (API, import) adds its names, one row per name and
organization, and nothing removes them (a name stays known after its last subscriber is
deleted or loses it: a filter on it then matches nobody, which is true).
"""

import json
import math
import re
from collections.abc import Iterable, Mapping

from django.db import connection

from subscribers.models import AttributeKey

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
MAX_KEYS = 20
MAX_STRING = 255
MAX_BYTES = 4096
PREFIX = "attr."  # of a filter's key and a merge field: `attr.COLOR`, `{attr.COLOR|none}`


class InvalidAttributes(ValueError):
    """Attributes outside the rules; `str()` says which and why."""


def check_name(name) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidAttributes(
            f"{name!r} is not an attribute name: a letter, then letters, digits or _ (40 characters at most)."
        )
    return name


def check_value(name: str, value):
    """A value as stored; InvalidAttributes when it is none of string, number, boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAttributes(f"{name}: numbers must be finite.")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise InvalidAttributes(f"{name}: at most {MAX_STRING} characters.")
        if "\x00" in value:
            raise InvalidAttributes(f"{name}: must not contain NUL characters.")
        return value
    raise InvalidAttributes(f"{name}: a value must be a string, a number or a boolean (a date as YYYY-MM-DD).")


def check_size(attributes: Mapping) -> dict:
    if len(attributes) > MAX_KEYS:
        raise InvalidAttributes(f"At most {MAX_KEYS} attributes per subscriber.")
    if len(json.dumps(attributes, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_BYTES:
        raise InvalidAttributes(f"At most {MAX_BYTES} bytes of attributes per subscriber (as JSON).")
    return dict(attributes)


def clean(value, *, allow_null: bool = False) -> dict:
    """A JSON object of attributes checked against the rules; with `allow_null` (a PATCH), a
    None value is kept (it removes the key, see `merged`)."""
    if not isinstance(value, dict):
        raise InvalidAttributes("Must be an object of attribute names to values.")
    out = {}
    for name, item in value.items():
        check_name(name)
        out[name] = None if item is None and allow_null else check_value(name, item)
    if not allow_null:
        check_size(out)
    return out


def merged(current: Mapping, changes: Mapping) -> dict:
    """`current` with `changes` applied (None removes a key), checked for count and size."""
    out = dict(current or {})
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return check_size(out)


# -- known names -----------------------------------------------------------------------------------


def remember(organization_id: int, names: Iterable[str]) -> None:
    """Record that the organization uses these attribute names (idempotent, one INSERT)."""
    names = sorted(set(names))
    if names:
        AttributeKey.objects.bulk_create(
            [AttributeKey(organization_id=organization_id, name=name) for name in names], ignore_conflicts=True
        )


def known(organization_id: int) -> list[str]:
    """The attribute names the organization has used, sorted (the export's columns)."""
    return list(
        AttributeKey.objects.filter(organization_id=organization_id).order_by("name").values_list("name", flat=True)
    )


# -- filters ---------------------------------------------------------------------------------------


def parse_where(where, organization_id: int, *, field: str = "where", check_known: bool = True) -> dict[str, list]:
    """A filter object `{"attr.COUNTRY": "DE", ...}` checked: {name: [candidate stored values]}.

    Raises InvalidFilter naming the offending key (`field.attr.NAME`), also for an attribute the
    organization never used unless `check_known` is off (a fan-out reads a filter checked before).
    Values may be strings, numbers or booleans (a query string's are strings: see `candidates`)."""
    if not isinstance(where, dict):
        raise InvalidFilter(field, 'Must be an object like {"attr.COUNTRY": "DE"}.')
    out: dict[str, list] = {}
    for key, value in where.items():
        if not isinstance(key, str) or not key.startswith(PREFIX):
            raise InvalidFilter(f"{field}.{key}", "Filters are on attributes: attr.NAME.")
        name = key[len(PREFIX) :]
        if not NAME.fullmatch(name):
            raise InvalidFilter(f"{field}.{key}", "Not an attribute name.")
        try:
            check_value(name, value)
        except InvalidAttributes as exc:
            raise InvalidFilter(f"{field}.{key}", str(exc)) from None
        out[name] = candidates(value)
    if not check_known:
        return out
    unknown = sorted(set(out) - set(known_among(organization_id, out)))
    if unknown:
        raise InvalidFilter(
            f"{field}.{PREFIX}{unknown[0]}",
            f"Unknown attribute(s): {', '.join(unknown)}; no subscriber of the organization was ever given it.",
        )
    return out


def known_among(organization_id: int, names: Iterable[str]) -> list[str]:
    return list(
        AttributeKey.objects.filter(organization_id=organization_id, name__in=list(names)).values_list(
            "name", flat=True
        )
    )


class InvalidFilter(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def candidates(value) -> list:
    """The stored values a filter value matches: itself; for text, also the number or boolean it
    spells (`"42"` -> 42, `"true"` -> True), since a query string carries only text."""
    out = [value]
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            out.append(text.lower() == "true")
        else:
            try:
                number = float(text)
            except ValueError:
                number = None
            if number is not None and math.isfinite(number):
                out.append(int(number) if number.is_integer() and abs(number) < 2**53 else number)
    return out


def condition_sql(alias: str, where, vendor: str | None = None) -> tuple[str, list]:
    """SQL over subscribers `alias` for a parsed filter (all equalities, AND), with its params;
    `where` is {name: values} or (name, values) pairs (a name may come twice: both must hold).

    PostgreSQL: one `@>` containment per attribute (an OR of them for the value's candidates),
    each answered by the GIN index. Elsewhere: json_extract per row, typed as the value is."""
    vendor = vendor or connection.vendor
    clauses, params = [], []
    for name, values in where.items() if isinstance(where, Mapping) else where:
        arms = []
        for value in values:
            if vendor == "postgresql":
                arms.append(f"{alias}.attributes @> %s::jsonb")
                params.append(json.dumps({name: value}, ensure_ascii=False))
            else:
                path = f'$."{name}"'
                if isinstance(value, bool):
                    arms.append(f"json_type({alias}.attributes, %s) = %s")
                    params += [path, "true" if value else "false"]
                elif isinstance(value, (int, float)):
                    arms.append(
                        f"(json_type({alias}.attributes, %s) IN ('integer', 'real') "
                        f"AND json_extract({alias}.attributes, %s) = %s)"
                    )
                    params += [path, path, value]
                else:
                    arms.append(
                        f"(json_type({alias}.attributes, %s) = 'text' AND json_extract({alias}.attributes, %s) = %s)"
                    )
                    params += [path, path, value]
        clauses.append(arms[0] if len(arms) == 1 else "(" + " OR ".join(arms) + ")")
    return " AND ".join(clauses), params


def render_value(value) -> str:
    """An attribute as text in a message or a CSV cell: booleans as true/false, whole numbers
    without `.0`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
