"""What defines each channel today: names, styles, limits, mandatory mentions, titles, channels.yaml."""

from __future__ import annotations

import html as _html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from matinale.content.charset import to_gsm7
from matinale.content.errors import RulesError
from matinale.content.typography import Style
from matinale.content.yamldoc import _Doc

CHANNELS: tuple[str, ...] = ("x", "facebook", "instagram", "whatsapp", "sms", "email")
DIRECT_CHANNELS = frozenset({"sms", "email"})
_STYLE: dict[str, Style] = {"sms": "sms"}
_SHORTEN_STEPS = ("hashtags", "secondary_facts", "facts", "compact", "minimal")


# Direct messages: (what the mention is, its key in Settings.campaign).
_MENTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "sms": (
        ("sender", "name"),
        ("why you receive it", "why_you_receive"),
        ("how to object", "how_to_object"),
        ("free opt-out", "sms_stop"),
    ),
    "email": (
        ("sender", "sender_name"),
        ("why you receive it", "why_you_receive"),
        ("how to object", "how_to_object"),
        ("unsubscribe link", "unsubscribe_url"),
    ),
}


# Mentions are looked for in the text a reader sees: HTML without tags, typography aside.
_HREF = re.compile(r"""href\s*=\s*(["'])(.*?)\1""", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_COMBINING = re.compile("[\u0300-\u036f]")


@lru_cache(maxsize=8192)
def _loose(text: str) -> str:
    """Text compared for mentions: no accents, case or typography, single spaces."""
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", to_gsm7(text)))
    return " ".join(text.casefold().replace('"', " ").split())


@lru_cache(maxsize=8192)
def _html_text(markup: str) -> str:
    return _html.unescape(_TAGS.sub(" ", markup))


# Channel names as posts.md headings write them.
_CHANNEL_TITLES = {
    "x": "X",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "sms": "SMS",
    "email": "E-mail",
}


@dataclass(frozen=True)
class _ChannelRule:
    limit: int | None = None
    max_hashtags: int | None = None
    max_parts: int | None = None
    subject_limit: int | None = None
    threshold: float = 0.7
    min_distinct: int = 1


_CHANNEL_KEYS = ("limit", "max_hashtags", "max_parts", "subject_limit", "threshold", "min_distinct")
# The platforms' own ceilings: channels.yaml may tighten them, never loosen them.
_PLATFORM_LIMITS = {"x": 280, "facebook": 63206, "instagram": 2200, "whatsapp": 65536}
_PLATFORM_CAPS = {
    ("instagram", "max_hashtags"): 30,
    ("email", "subject_limit"): 200,
    ("sms", "max_parts"): 10,
}


def _positive_int(doc: _Doc, value: Any, path: tuple[str | int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        doc.fail(path, f"must be a whole number ≥ 1; got {value!r}")
    return value


def _load_channels(path: Path) -> tuple[dict[str, _ChannelRule], tuple[str, ...], int]:
    doc = _Doc(path, path.read_text(encoding="utf-8"), RulesError)
    raw = doc.mapping(doc.data, (), ("channels", "shorten", "variants"), ("channels",))
    variants = doc.mapping(
        raw.get("variants") or {}, ("variants",), ("shingle", "threshold", "min_distinct")
    )
    shingle = _positive_int(doc, variants.get("shingle", 5), ("variants", "shingle"))
    default_threshold = variants.get("threshold", 0.7)
    default_min = variants.get("min_distinct", 1)
    channels_raw = doc.mapping(raw["channels"], ("channels",), CHANNELS)
    channels = {}
    for name in CHANNELS:
        at = ("channels", name)
        body = doc.mapping(channels_raw.get(name) or {}, at, _CHANNEL_KEYS)
        values: dict[str, Any] = {}
        for key in ("limit", "max_hashtags", "max_parts", "subject_limit", "min_distinct"):
            if key in body:
                values[key] = _positive_int(doc, body[key], (*at, key))
        if "limit" in values and values["limit"] > _PLATFORM_LIMITS.get(name, values["limit"]):
            doc.fail(
                (*at, "limit"),
                f"{values['limit']} is over {name}'s own limit of {_PLATFORM_LIMITS[name]}",
            )
        for (channel, key), cap in _PLATFORM_CAPS.items():
            if channel == name and values.get(key, 0) > cap:
                doc.fail((*at, key), f"{values[key]} is over the ceiling of {cap}")
        values.setdefault("limit", _PLATFORM_LIMITS.get(name))
        values.setdefault("max_parts", 2 if name == "sms" else None)
        values.setdefault("subject_limit", 80 if name == "email" else None)
        values.setdefault("min_distinct", default_min)
        threshold = body.get("threshold", default_threshold)
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 < threshold <= 1
        ):
            doc.fail(
                (*at, "threshold") if "threshold" in body else ("variants", "threshold"),
                f"must be a similarity in (0, 1]; got {threshold!r}",
            )
        channels[name] = _ChannelRule(threshold=float(threshold), **values)
    shorten = raw.get("shorten") or list(_SHORTEN_STEPS)
    if not isinstance(shorten, list):
        doc.fail(("shorten",), f"must be a list of steps among {', '.join(_SHORTEN_STEPS)}")
    for index, step in enumerate(shorten):
        if step not in _SHORTEN_STEPS:
            doc.fail(("shorten", index), f"unknown step {step!r}; use {', '.join(_SHORTEN_STEPS)}")
    return channels, tuple(shorten), shingle
