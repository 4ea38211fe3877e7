"""How many SMS segments a text costs: carriers bill per segment, so estimates count them.

A text is GSM-7 when every character is in the GSM 03.38 basic table or its
extension table, and "UCS-2" otherwise. Carriers actually send UTF-16 under that
name, so characters outside the BMP (most emoji) take two units.

A single message holds 160 septets or 70 UTF-16 units. A longer one is split into
segments of 153 septets or 67 units (the rest of each is the concatenation header),
and a split never falls inside an extension character (escape + character) or a
surrogate pair, so such a character can push the count up by one.

`characters` counts code points (`len(text)`); an emoji built from several code
points (flags, skin tones, families) counts as several. The empty text is 0
segments: nothing is sent, so there is nothing to bill.
"""

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each costs two septets: the escape (0x1B) and the character.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM7 = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SmsInfo:
    """`units` are septets for GSM-7 and UTF-16 code units for UCS-2."""

    encoding: Encoding
    characters: int
    segments: int
    units: int


def is_gsm7(text: str) -> bool:
    """Whether `text` fits the GSM-7 alphabet (basic or extension table)."""
    return _GSM7.issuperset(text)


def sms_info(text: str) -> SmsInfo:
    """Encoding, length and segment count of `text` as an SMS."""
    if is_gsm7(text):
        wide = [i for i, ch in enumerate(text) if ch in GSM7_EXTENSION]
        return _info("GSM-7", text, wide, GSM7_SINGLE, GSM7_MULTI)
    wide = [i for i, ch in enumerate(text) if ch > "\uffff"]
    return _info("UCS-2", text, wide, UCS2_SINGLE, UCS2_MULTI)


def _info(encoding: Encoding, text: str, wide: list[int], single: int, multi: int) -> SmsInfo:
    """Count segments; `wide` are the indexes of two-unit characters, which no split may cut.

    Rendered texts are counted per recipient, so the common case (short, or no wide
    characters) is arithmetic and only a long text with wide characters is walked.
    """
    units = len(text) + len(wide)
    if units <= single:
        segments = 1 if units else 0
    elif not wide:
        segments = -(-units // multi)
    else:
        widths = [1] * len(text)
        for i in wide:
            widths[i] = 2
        segments, used = 1, 0
        for width in widths:
            if used + width > multi:
                segments, used = segments + 1, 0
            used += width
    return SmsInfo(encoding, len(text), segments, units)
