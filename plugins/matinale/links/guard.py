"""What protects the service and the people who use it: per-process rate limiting that
stores no address, link-preview bot detection, and the security headers of every answer.

The rate limiter keys its token buckets by a keyed hash (HMAC-SHA-256, truncated) of the
client address under a random salt that lives in memory only and is replaced, with every
bucket, every ``salt_seconds``: no address, nor anything that could be matched to one
later, is ever written or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["PREVIEW_BOTS", "RateLimiter", "SecurityHeaders", "is_preview_bot"]

PREVIEW_BOTS = re.compile(
    r"WhatsApp|facebookexternalhit|Facebot|meta-externalagent|Twitterbot|TelegramBot"
    r"|Slackbot-LinkExpanding|Discordbot|LinkedInBot|SkypeUriPreview|Signal|Iframely"
    r"|redditbot|Pinterestbot|Mastodon|Bluesky|vkShare|Viber|Snapchat",
    re.IGNORECASE,
)


def is_preview_bot(user_agent: str) -> bool:
    """Whether a request is a link preview (a sign that a post was shared, not a click)."""
    return bool(user_agent) and PREVIEW_BOTS.search(user_agent) is not None


class RateLimiter:
    """Token buckets per salted address hash: ``rate`` requests a second, bursts of ``burst``."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        salt_seconds: float = 3600,
        max_keys: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.salt_seconds = salt_seconds
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[bytes, tuple[float, float]] = {}
        self._salt = secrets.token_bytes(32)
        self._salted_at = clock()

    def _key(self, address: str) -> bytes:
        return hmac.new(self._salt, address.encode("utf-8", "replace"), hashlib.sha256).digest()[
            :12
        ]

    def allow(self, address: str) -> bool:
        now = self.clock()
        if now - self._salted_at >= self.salt_seconds or len(self._buckets) >= self.max_keys:
            self._salt = secrets.token_bytes(32)  # forget every bucket with the old salt
            self._salted_at = now
            self._buckets.clear()
        key = self._key(address)
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every HTTP answer."""

    def __init__(self, app: ASGIApp, style_hash: str) -> None:
        self.app = app
        csp = (
            f"default-src 'none'; style-src 'sha256-{style_hash}'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'"
        )
        self.headers = [
            (b"content-security-policy", csp.encode("ascii")),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-resource-policy", b"same-site"),
            (b"cache-control", b"no-store"),
        ]
        # The page's beacons come from the bucket's origin (another site): their answer must
        # be readable cross-origin, or Chromium logs ERR_BLOCKED_BY_RESPONSE on every beacon.
        self.beacon_headers = [
            (name, b"cross-origin" if name == b"cross-origin-resource-policy" else value)
            for name, value in self.headers
        ]

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        extra = self.beacon_headers if scope.get("path") == "/e" else self.headers

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in extra if h[0] not in names),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
