"""The characters each channel carries and how X and SMS count them.

GSM 03.38 (the SMS alphabet) and the plain forms French falls back to, the no-break spaces,
what a URL is in a post, and the lengths X (twitter-text 3) and SMS (parts of GSM-7 or
UCS-2) count. :mod:`matinale.content.typography` writes texts with these rules.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

NNBSP = "\u202f"
_NBSP = "\u00a0"

# GSM 03.38: the basic table costs one septet per character, the extension table two
# (an escape, then the character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION

# What French needs that GSM-7 lacks, written the way French SMS are written by hand.
_GSM7_FALLBACK = {
    "â": "a", "ê": "e", "ë": "e", "î": "i", "ï": "i", "ô": "o", "û": "u", "ÿ": "y",
    "ç": "c", "á": "a", "í": "i", "ó": "o", "ú": "u",
    "À": "A", "Â": "A", "È": "E", "Ê": "E", "Ë": "E", "Î": "I", "Ï": "I", "Ô": "O",
    "Ù": "U", "Û": "U", "Ÿ": "Y",
    "œ": "oe", "Œ": "OE",
    "’": "'", "‘": "'", "ʼ": "'", "“": '"', "”": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "‑": "-", "…": "...", "•": "-", "·": "-",
    NNBSP: " ", _NBSP: " ", "\u2009": " ", "\u2007": " ",
}  # fmt: skip

# A URL ends before trailing sentence punctuation; "…/a?b=1" keeps its query.
URL_PATTERN = re.compile(r"""(?:https?://|www\.)[^\s<>"«»]*[^\s<>"'«».,;:!?)’]""")


@dataclass(frozen=True)
class SmsCount:
    """How an SMS travels: its encoding, its length in units of that encoding, its parts."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    parts: int


_NON_GSM7 = re.compile("[^" + re.escape("".join(sorted(_GSM7_ALL))) + "]")


def to_gsm7(text: str) -> str:
    """``text`` with every character GSM-7 can carry kept and the others replaced.

    Letters GSM-7 lacks lose their accent (ê → e); typographic punctuation becomes its
    plain form. What has no GSM-7 form (emoji) is kept: the SMS then travels as UCS-2 and
    :func:`sms_count` says so.
    """
    if set(text) <= _GSM7_ALL:
        return text
    # Only the few characters outside GSM-7 are looked at (a dict-based str.translate
    # would look up every character).
    return _NON_GSM7.sub(lambda m: _gsm7_form(m.group(0)), text)


@lru_cache(maxsize=1024)
def _gsm7_form(char: str) -> str:
    if char in _GSM7_FALLBACK:
        return _GSM7_FALLBACK[char]
    bare = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    return bare if bare and all(c in GSM7_BASIC for c in bare) else char


# twitter-text 3: code points in 0–4351, 8192–8205, 8208–8223 and 8242–8247 weigh 1, every
# other one 2; a URL weighs 23; a variation selector inside an emoji adds nothing.
_X_HEAVY = re.compile("[^\u0000-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037\ufe0e\ufe0f]")
_X_SELECTORS = re.compile("[\ufe0e\ufe0f]")
_X_URL_WEIGHT = 23


def x_length(text: str) -> int:
    """The length X counts: NFC text, any URL 23, emoji and most non-Latin characters 2.

    A narrow no-break space (U+202F) weighs 2 on X: French typography costs characters.
    Emoji made of several code points joined by U+200D count a little more here than on X,
    which errs on the safe side.
    """
    text = unicodedata.normalize("NFC", text)
    urls = URL_PATTERN.findall(text)
    if urls:
        text = URL_PATTERN.sub("", text)
    plain = len(text) - len(_X_SELECTORS.findall(text))
    return plain + len(_X_HEAVY.findall(text)) + _X_URL_WEIGHT * len(urls)


def sms_count(text: str) -> SmsCount:
    """Encoding, units and parts of an SMS, split the way handsets split it.

    GSM-7: 160 septets in one part, 153 per part when concatenated, and an extension
    character (€, [, …) never split across two parts. UCS-2: 70 UTF-16 units in one part,
    67 per part, and a surrogate pair never split.
    """
    chars = set(text)
    encoding: Literal["GSM-7", "UCS-2"]
    if chars <= _GSM7_ALL:
        wide = chars & GSM7_EXTENSION
        single, per_part, encoding = 160, 153, "GSM-7"
    else:
        wide = {c for c in chars if ord(c) > 0xFFFF}
        single, per_part, encoding = 70, 67, "UCS-2"
    units = len(text) + sum(text.count(c) for c in wide)
    if units <= single:
        return SmsCount(encoding, units, 1 if units else 0)
    if not wide:
        return SmsCount(encoding, units, -(-units // per_part))
    # A two-unit character never straddles two parts: count the way handsets fill them.
    parts, room = 1, per_part
    for char in text:
        size = 2 if char in wide else 1
        if size > room:
            parts, room = parts + 1, per_part
        room -= size
    return SmsCount(encoding, units, parts)
