"""Rate limiting without stored addresses, preview bots, beacon bounds, French pages."""

from __future__ import annotations

import pytest

from matinale.links.beacons import Plausibility, parse_beacon
from matinale.links.guard import RateLimiter, is_preview_bot
from matinale.links.pages import PAGES, page


def test_rate_limiter_buckets_refill_and_forget_addresses() -> None:
    now = [0.0]
    limiter = RateLimiter(1.0, 3.0, salt_seconds=60, clock=lambda: now[0])
    assert [limiter.allow("203.0.113.9") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("198.51.100.1")  # another address, its own bucket
    now[0] = 1.0
    assert limiter.allow("203.0.113.9")
    assert not any(b"203.0.113.9" in key for key in limiter._buckets)
    now[0] = 61.0  # new salt: every bucket forgotten
    assert len(limiter._buckets) == 2
    assert limiter.allow("203.0.113.9")
    assert len(limiter._buckets) == 1


@pytest.mark.parametrize(
    "agent",
    [
        "WhatsApp/2.23.20.0 A",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0",
        "TelegramBot (like TwitterBot)",
    ],
)
def test_preview_bots_are_recognised(agent: str) -> None:
    assert is_preview_bot(agent)


def test_browsers_are_not_preview_bots() -> None:
    assert not is_preview_bot("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
    assert not is_preview_bot("")


def test_copies_and_shares_are_bounded_by_exposures_and_opens() -> None:
    bounds = Plausibility(shown_per_open=1, slack=0)
    cell = ("s01", "logement", "x", "mobiliser")
    assert not bounds.accept("2026-11-24", cell, "variant_shown")  # nothing opened
    bounds.opened("2026-11-24", "s01")
    bounds.opened("2026-11-24", "s01")
    assert bounds.accept("2026-11-24", cell, "variant_shown")
    assert bounds.accept("2026-11-24", cell, "copy")
    assert not bounds.accept("2026-11-24", cell, "share")  # one exposure, one action
    assert bounds.accept("2026-11-24", cell, "variant_shown")
    assert bounds.accept("2026-11-24", cell, "share")
    assert not bounds.accept("2026-11-24", cell, "variant_shown")  # two opens, two exposures


@pytest.mark.hostile
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b"{",
        b'{"edition": "2026-11-24"}',
        b'{"edition":"e","segment":"s","theme":"t","channel":"c","angle":"a","event":"open"}',
        b'{"edition":"e","segment":"s","theme":"t","channel":"c","angle":"a","event":"copy","x":"'
        + b"a" * 2000
        + b'"}',
        b'{"edition":"e","segment":{"a":1},"theme":"t","channel":"c","angle":"a","event":"copy"}',
    ],
)
def test_malformed_beacons_are_refused(body: bytes) -> None:
    assert parse_beacon(body) is None


def test_pages_are_french_and_small() -> None:
    for kind in PAGES:
        status, html = page(kind)
        assert 400 <= status < 600 and len(html) < 2000
        assert b'lang="fr"' in html
    assert "remplacé" in page("replaced")[1].decode()
