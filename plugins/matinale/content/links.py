"""Links in posts: which may appear (https, allowed domains) and how each is tracked (UTM)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import cache, lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from matinale.content.errors import LinkError
from matinale.schemas.fields import SLUG

_SPACE = re.compile(r"\s")
_HOST_END = re.compile(r"[/?#]")


def _link_problem(url: str, allowed_domains: Sequence[str] | None) -> str | None:
    """Why ``url`` may not appear in a post, or None."""
    if not url.startswith("https://"):
        return f"{url!r} must start with https://"
    if _SPACE.search(url):
        return f"{url!r} holds spaces"
    if not url.isascii():
        return f"{url!r} holds non-ASCII characters; percent-encode them (é → %C3%A9)"
    host = _HOST_END.split(url[8:], maxsplit=1)[0]
    if not host or "@" in host:
        return f"{url!r} needs a host name and no user or password"
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if allowed_domains is not None and host.lower() not in _domain_set(tuple(allowed_domains)):
        return f"{url!r}: domain {host} is not in links.allowed_domains of campaign.yaml ({', '.join(allowed_domains)})"
    return None


@lru_cache(maxsize=1024)
def _cached_link_problem(url: str, allowed_domains: tuple[str, ...] | None) -> str | None:
    return _link_problem(url, allowed_domains)


@cache
def _domain_set(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(d.lower() for d in domains)


@lru_cache(maxsize=1024)
def _link_base(url: str) -> tuple[str, str, str]:
    """``url`` without fragment and utm_* parameters, the separator for more, the fragment."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_")
    ]
    base = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return base, "&" if query else "?", fragment


def tracked_link(
    url: str,
    *,
    channel: str,
    edition: date,
    content: str,
    allowed_domains: Sequence[str] | None = None,
) -> str:
    """``url`` with UTM parameters that name channel, edition and segment-variant, nothing personal.

    ``channel`` is the medium (a channel, or ``card`` for QR codes on cards); ``content`` is
    ``<segment>-<variant>``. utm_* parameters already in ``url`` are replaced. With
    ``allowed_domains``, a link that is not https on one of them raises :class:`LinkError`.
    """
    for name, value in (("channel", channel), ("content", content)):
        if not SLUG.match(value):
            raise LinkError(f"tracking {name} {value!r} must be a slug (a-z, 0-9, '-')")
    problem = _cached_link_problem(url, None if allowed_domains is None else tuple(allowed_domains))
    if problem:
        raise LinkError(problem)
    base, separator, fragment = _link_base(url)
    # channel, edition and content are slugs: nothing to percent-encode.
    return (
        f"{base}{separator}utm_source=matinale&utm_medium={channel}"
        f"&utm_campaign={edition.isoformat()}&utm_content={content}{fragment}"
    )


@lru_cache(maxsize=1024)
def _site(url: str) -> str:
    """``insee.fr`` for https://www.insee.fr/…: a source named without being a link."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")
