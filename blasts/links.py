"""Links in blast messages: finding them, swapping them for short links, minting codes.

Short links are `PUBLIC_BASE_URL/l/<code>`; a short link costs fewer characters
(so fewer segments) and lets us count clicks.

Only `http://` and `https://` URLs are found (any case); a bare `www.example.com` is
left alone, because we cannot tell it from prose like "file.txt" reliably.
"""

import re
import secrets
import string
from collections.abc import Callable

CODE_ALPHABET = string.digits + string.ascii_letters  # base62: safe in a path without escaping
CODE_LENGTH = 8  # 62**8 ≈ 2.2e14 codes

# Stops at whitespace, quotes and angle brackets, which do not occur unescaped in a URL
# but often surround one in prose; trailing punctuation is trimmed afterwards.
# The host must start with a letter, digit or "[" (IPv6), so "http://" alone is no link.
_URL = re.compile(r"\bhttps?://[\w\[][^\s<>\"]*", re.IGNORECASE)
# Sentence punctuation after a link ("see https://x.com/a.") belongs to the sentence.
_TRAILING = frozenset(".,;:!?'*…\u201c\u201d\u2018\u2019«»")
# A closer at the end is the link's only if it closes an opener inside the link:
# "(see https://x.com)" versus "https://en.wikipedia.org/wiki/Mercury_(planet)".
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def find_urls(text: str) -> list[tuple[int, int, str]]:
    """Each http(s) URL in `text` as `(start, end, url)`, with `text[start:end] == url`."""
    found = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        found.append((match.start(), match.start() + len(url), url))
    return found


def replace_urls(text: str, make_short: Callable[[str], str]) -> str:
    """`text` with each URL replaced by `make_short(url)`.

    `make_short` is called once per distinct URL, in order of first appearance, so a
    link repeated in a message gets one short link (and one row, if it makes one).
    """
    shortened: dict[str, str] = {}
    pieces = []
    position = 0
    for start, end, url in find_urls(text):
        if url not in shortened:
            shortened[url] = make_short(url)
        pieces += [text[position:start], shortened[url]]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def new_code() -> str:
    """A random short-link code: `CODE_LENGTH` base62 characters from `secrets`.

    Unguessable, so walking codes does not reveal other organizations' links. Codes can
    still collide (rarely): whoever stores them should retry on the unique constraint.
    """
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)):
            url = url[:-1]
        else:
            break
    return url
