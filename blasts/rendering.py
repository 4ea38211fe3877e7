"""Merge fields in blast messages and subjects: `{first}`, `{first|there}`.

A blast renders one text per recipient, so a text is parsed once by
`compile_template` and the result rendered many times.

Syntax, and what is deliberately *not* a placeholder:

- `{name}` or `{name|fallback}`, where `name` is one of `MERGE_FIELDS` in any case
  (`{First}` and `{FIRST}` are `{first}`), or a custom attribute `{attr.NAME}` (`attr.` in any
  case, NAME exactly as the attribute is spelled: subscribers.attributes); a subscriber without
  that attribute gets the fallback.
- The fallback is everything after the first `|` up to `}`, verbatim: spaces are
  kept (`{first|my friend}`), `|` may appear in it, it may be empty. It cannot
  contain braces or a line break, so a stray `{` never swallows the rest of a message.
- Anything else in braces stays as written: unknown names (`{foo}`), JSON
  (`{"a": 1}`), and `{ first }` with spaces inside the braces (senders who type that
  are writing prose, and guessing would silently change their text).
- There is no escape for a literal `{first}`: giving `{{` a meaning would change
  texts that contain it today.
"""

import re
from collections.abc import Mapping
from functools import lru_cache

from subscribers.attributes import render_value

MERGE_FIELDS: tuple[str, ...] = ("first", "last", "phone", "email", "address", "city", "state", "zip")

ATTRIBUTE_PREFIX = "attr."
# Anything shaped like a placeholder, supported or not; `unknown_fields` reports the rest.
_PLACEHOLDER = re.compile(
    r"\{([Aa][Tt][Tt][Rr]\.[A-Za-z][A-Za-z0-9_]{0,39}|[A-Za-z_][A-Za-z0-9_]*)(?:\|([^{}\r\n]*))?\}"
)
_SUPPORTED = frozenset(MERGE_FIELDS)


def _slot_name(written: str) -> str | None:
    """The key a placeholder reads from the values: `first`, `attr.COLOR`; None if unsupported."""
    if "." in written:
        return ATTRIBUTE_PREFIX + written.split(".", 1)[1]
    name = written.lower()
    return name if name in _SUPPORTED else None


def merge_values(fields: Mapping) -> dict:
    """A subscriber's values as templates read them: its fields, and each custom attribute as
    `attr.NAME` text (booleans true/false, whole numbers without .0)."""
    values = {name: value for name, value in fields.items() if name != "attributes"}
    for name, value in (fields.get("attributes") or {}).items():
        values[ATTRIBUTE_PREFIX + name] = render_value(value)
    return values


class Template:
    """A parsed text: literals with fields between them, ready to render per recipient.

    Kept as two parallel sequences (`literals` has one more item than the fields)
    so `render` is one loop with no type checks.
    """

    __slots__ = ("_literals", "_slots", "fields", "is_static", "text", "uses_attributes")

    def __init__(self, text: str) -> None:
        literals: list[str] = []
        slots: list[tuple[str, str]] = []
        start = 0
        for match in _PLACEHOLDER.finditer(text):
            name = _slot_name(match.group(1))
            if name is None:
                continue  # left in the surrounding literal, as written
            literals.append(text[start : match.start()])
            slots.append((name, match.group(2) or ""))
            start = match.end()
        literals.append(text[start:])
        self.text = text
        self._literals: tuple[str, ...] = tuple(literals)
        self._slots: tuple[tuple[str, str], ...] = tuple(slots)
        self.fields: frozenset[str] = frozenset(name for name, _ in slots)
        self.is_static: bool = not slots
        self.uses_attributes: bool = any(name.startswith(ATTRIBUTE_PREFIX) for name in self.fields)

    def render(self, values: Mapping[str, str | None]) -> str:
        """The text for one recipient; `values` is keyed by lowercase field name, and `attr.NAME`
        for attributes (see `merge_values`).

        A value that is missing, None, empty or only whitespace gets the fallback
        (empty without one), so "Hi {first|there}" never reads "Hi  ,".
        """
        literals = self._literals
        if self.is_static:
            return literals[0]
        pieces = [literals[0]]
        for (name, fallback), literal in zip(self._slots, literals[1:], strict=True):
            value = values.get(name)
            pieces.append(value if value and not value.isspace() else fallback)
            pieces.append(literal)
        return "".join(pieces)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


@lru_cache(maxsize=256)
def compile_template(text: str) -> Template:
    """Parse `text` once; cached because the same body is rendered for every recipient."""
    return Template(text)


def render(text: str, values: Mapping[str, str | None]) -> str:
    """Render `text` for one recipient; see `Template.render`."""
    return compile_template(text).render(values)


# C0 controls (CR, LF, tab...), DEL, C1 controls (NEL...), Unicode's line and paragraph separators.
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """`text` as one header line: each run of control characters (CR, LF and the others) is
    one space. For a rendered subject: a merge field's value (a first name of "Ann", CR, LF,
    "Bcc: x@evil") must never end the line and start a header of its own."""
    return _CONTROL_RUN.sub(" ", text)


def unknown_fields(text: str) -> list[str]:
    """Placeholder-shaped names that are not merge fields, as written, first occurrence first.

    For the 400 on create: `{frist}` is a typo the sender wants to hear about, while
    `{"a": 1}` or `{ first }` are not placeholders at all and pass.
    """
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if _slot_name(name) is None:
            seen.setdefault(name, None)
    return list(seen)
