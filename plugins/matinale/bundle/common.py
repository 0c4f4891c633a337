"""What every part of the bundle shares: file names, French dates, slugs, file kinds, entries."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from matinale.errors import MatinaleError

MANIFEST = "manifest.json"
COMPLIANCE = "compliance.json"
MANIFEST_SCHEMA = "matinale.manifest/1"
COMPLIANCE_SCHEMA = "matinale.compliance/1"
FORMAT_LABELS = {"square": "carré", "landscape": "paysage", "story": "story (vertical)"}
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

PARIS = ZoneInfo("Europe/Paris")
#: The pages' templates, CSS and JS (their checksums go into the manifest's inputs).
PAGE_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

#: Turns a path relative to the run (``65plus-p01/cards/x.jpg``) into a link a page can use.
Linker = Callable[[str], str]


class BundleError(MatinaleError, RuntimeError):
    """The bundle cannot be built: the message names the segment and file."""


def french_date(day: date) -> str:
    """``mardi 24 novembre 2026``."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def french_datetime(instant: datetime, zone: ZoneInfo) -> str:
    """``mardi 24 novembre 2026 à 05 h 12`` in ``zone`` (the campaign's, Paris)."""
    local = instant.astimezone(zone)
    return f"{french_date(local.date())} à {local:%H}\u00a0h\u00a0{local:%M}"


def check_slug(value: str, what: str = "segment id") -> str:
    """Return ``value`` if it is a slug: ids become folder names, so no traversal."""
    if not isinstance(value, str) or not _SLUG.match(value):
        raise BundleError(
            f"{what} {value!r} is not a slug (a-z, 0-9, '-'): it would be unsafe as a folder name"
        )
    return value


def content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith(".md"):
        return "text/markdown; charset=utf-8"
    if path.endswith(".html"):
        return "text/html; charset=utf-8"
    if path.endswith(".txt"):
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def kind_of(path: str) -> str:
    """What a bundle file is: ``overview``, ``page``, ``posts``, ``card``, ``preview``…"""
    parts = path.split("/")
    if path == "index.html":
        return "overview"
    if len(parts) == 3 and parts[1] == "cards":
        return "card"
    if len(parts) == 3 and parts[1] == "previews":
        return "preview"
    return {
        "index.html": "page",
        "posts.json": "posts",
        "posts.md": "posts",
        "cards.json": "cards",
        "textes-alternatifs.txt": "cards",
        "pack.zip": "pack",
        "compliance.json": "compliance",
    }.get(parts[-1], "other")


def manifest_entry(
    path: str, data: bytes, *, digest_of: Callable[[bytes], str] | None = None, **extra: Any
) -> dict[str, Any]:
    segment = path.split("/", 1)[0] if "/" in path else None
    return {
        "path": path,
        "sha256": digest_of(data) if digest_of else hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "content_type": content_type(path),
        "segment": segment,
        "kind": kind_of(path),
        **extra,
    }
