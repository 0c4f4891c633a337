"""Links in posts: which may appear (https, allowed domains) and how each is tracked (UTM on
the campaign's own domain only, with an opaque ``utm_content``; sources stay untracked)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date
from functools import cache, lru_cache
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

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


_OPAQUE = re.compile(r"^[a-z0-9]{6,12}$")


def opaque_content(*parts: str) -> str:
    """A ``utm_content`` that names no band, profile or segment: 10 letters of a hash (used
    when the run has no short code to name the link by). Letters only: ten hex digits are
    all decimal about once in a hundred, and ``0553820014`` reads as a phone number to the
    pre-publish PII check."""
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).digest()
    return "".join(chr(ord("a") + byte % 26) for byte in digest[:10])


def own_domain(website: str) -> str:
    """The campaign's own host (campaign.website without ``www.``): UTM parameters go on
    links to it and its subdomains only."""
    return (urlsplit(website).hostname or "").lower().removeprefix("www.")


def is_own(url: str, own: str | None) -> bool:
    if own is None:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return bool(own) and (host == own or host.endswith(f".{own}"))


def tracked_link(
    url: str,
    *,
    channel: str,
    edition: date,
    content: str,
    allowed_domains: Sequence[str] | None = None,
    own: str | None = None,
) -> str:
    """``url`` with UTM parameters that name channel, edition and an opaque content code.

    ``channel`` is the medium (a channel, or ``card`` for QR codes on cards); ``content``
    is the link's short code, or :func:`opaque_content`: ``[a-z0-9]{6,12}``, never a band,
    profile or segment id. utm_* parameters already in ``url`` are replaced. With ``own``
    (the campaign's host), a link elsewhere (a source: insee.fr …) is left as it is. With
    ``allowed_domains``, a link that is not https on one of them raises :class:`LinkError`.
    """
    if not SLUG.match(channel):
        raise LinkError(f"tracking channel {channel!r} must be a slug (a-z, 0-9, '-')")
    if not _OPAQUE.match(content):
        raise LinkError(f"utm_content {content!r} must be an opaque code ([a-z0-9]{{6,12}})")
    problem = _cached_link_problem(url, None if allowed_domains is None else tuple(allowed_domains))
    if problem:
        raise LinkError(problem)
    if not is_own(url, own):
        return url
    base, separator, fragment = _link_base(url)
    # channel, edition and content are slugs: nothing to percent-encode.
    return (
        f"{base}{separator}utm_source=matinale&utm_medium={channel}"
        f"&utm_campaign={edition.isoformat()}&utm_content={content}{fragment}"
    )


def _own_host(host: str, campaign_hosts: frozenset[str] | None) -> bool:
    """Whether ``host`` is one of the campaign's own (or a subdomain); None: not checked."""
    if campaign_hosts is None:
        return True
    host = host.removeprefix("www.")
    return any(host == own or host.endswith(f".{own}") for own in campaign_hosts)


# A night checks each post's destination and the links of its text: a destination comes
# back for every variant of its angle, a source for every post of its theme.
@lru_cache(maxsize=1 << 14)
def _utm_problems(url: str, campaign_hosts: frozenset[str] | None) -> tuple[tuple[str, str], ...]:
    """The rules of quality.LINK_RULES about tracking that ``url`` breaks, as (rule, words)."""
    if "utm_" not in url and "%" not in url:
        return ()  # no query key can start with utm_ (a key is only decoded from %XX)
    parts = urlsplit(url)
    query: dict[str, list[str]] = {}
    if "%" in parts.query or "+" in parts.query:
        query = parse_qs(parts.query)
    else:  # nothing to decode: parse_qs's pairs (empty values dropped), by str methods
        for pair in parts.query.split("&"):
            key, equal, value = pair.partition("=")
            if equal and value:
                query.setdefault(key, []).append(value)
    if not any(key.startswith("utm_") for key in query):
        return ()
    problems = []
    host = (parts.hostname or "").lower()
    if not _own_host(host, campaign_hosts):
        problems.append(("utm_foreign", host))
    content = (query.get("utm_content") or [""])[0]
    if content and not _OPAQUE.match(content):
        problems.append(("utm_content", f"utm_content={content}"))
    return tuple(problems)


@lru_cache(maxsize=1024)
def _site(url: str) -> str:
    """``insee.fr`` for https://www.insee.fr/…: a source named without being a link."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")
