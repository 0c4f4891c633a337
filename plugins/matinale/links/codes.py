"""Tokens, short codes and the checks every identifier passes before it is looked up.

A token (``/p/<token>``) is 128 random bits in base64url (22 characters); a code
(``/s/<code>``) is 8 random characters from an alphabet without look-alikes (0/o, 1/l/i),
so a code read off a printed card can be typed. Anything else is refused before any lookup.
"""

from __future__ import annotations

import base64
import re
import secrets
from urllib.parse import urlsplit

from matinale.errors import MatinaleError

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "EVENTS",
    "OVERVIEW",
    "LinkStateError",
    "check_destination",
    "check_id",
    "is_code",
    "is_token",
    "new_code",
    "new_token",
]

OVERVIEW = "_overview"
"""The segment name of the staff overview's token (its own line in tokens.json)."""
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 8
EVENTS = ("open", "click", "preview", "copy", "share", "variant_shown", "implausible")
"""The events a count row names (``implausible``: beacons beyond what opens make plausible)."""

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")
_CODE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class LinkStateError(MatinaleError, ValueError):
    """The link state (tokens, link tables) or a value written to it is wrong."""


def new_token() -> str:
    """128 random bits, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


def new_code(taken: set[str] | frozenset[str] = frozenset()) -> str:
    """8 random characters of :data:`CODE_ALPHABET`, not in ``taken``."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in taken:
            return code


def is_token(text: str) -> bool:
    return bool(_TOKEN.match(text))


def is_code(text: str) -> bool:
    return bool(_CODE.match(text))


def check_id(kind: str, value: object) -> str:
    """A segment, theme, channel or angle id: lower-case slug, at most 64 characters."""
    if not isinstance(value, str) or not _ID.match(value):
        raise LinkStateError(
            f"{kind} {value!r} is not an id: lower-case letters, digits, '-' and '_', 1 to 64 characters"
        )
    return value


def check_destination(url: str, allowed_domains: tuple[str, ...] = ()) -> str:
    """A destination a code may redirect to: an absolute http(s) URL without credentials,
    on one of ``allowed_domains`` (or a subdomain of one) when that list is not empty."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if (
        parts.scheme not in {"https", "http"}
        or not host
        or parts.username
        or parts.password
        or any(ch in url for ch in "\\\r\n\t ")
    ):
        raise LinkStateError(
            f"destination {url!r}: give an absolute http(s) address without credentials or spaces"
        )
    if allowed_domains and not any(host == d or host.endswith(f".{d}") for d in allowed_domains):
        raise LinkStateError(
            f"destination {url!r}: {host} is not in links.allowed_domains of campaign.yaml"
        )
    return url
