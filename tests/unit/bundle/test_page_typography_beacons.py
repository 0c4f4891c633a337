"""The page's own words in French typography (issue 20 item 3), its beacon settings and CSP
(issue 17 item 7), its font, and the first screen's order (item 1), read from rendered HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from bundle_samples import SEGMENTS, build, render_sample_pages

from matinale.bundle import BundleError
from matinale.bundle.page import PAGE_FONT, typographic
from matinale.store import LocalStore

SEGMENT = SEGMENTS[0]["id"]


class _Labels(HTMLParser):
    """Every heading, summary and label text, and every aria-label, title and alt value."""

    WORDS = {"h1", "h2", "h3", "summary", "title", "button", "a", "caption", "th"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)
        self.found += [v or "" for k, v in attrs if k in {"aria-label", "title", "alt"}]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self.WORDS & set(self.open) and "script" not in self.open:
            self.found.append(data)


def _render(tmp_path: Path, origin: str | None, angle: str | None = "mobiliser") -> dict:
    store = LocalStore(tmp_path)
    build(store, "b")
    key = f"b/{SEGMENT}/posts.json"
    if angle is not None:
        store.put_json(key, {**store.get_json(key), "angle": angle})
    pages = render_sample_pages(store, "b", beacon_origin=origin)
    return {path: data.decode() for path, data in pages.items()}


def test_every_heading_label_and_alt_uses_typographic_quotes(tmp_path: Path) -> None:
    pages = _render(tmp_path, None)
    page = pages[f"{SEGMENT}/index.html"]
    assert "Pouvoir d’achat : des prix justes" in page  # the brief says "Pouvoir d'achat"
    for html, least in ((page, 40), (pages["index.html"], 10)):
        parser = _Labels()
        parser.feed(html)
        words = [w for w in parser.found if w.strip()]
        assert len(words) > least  # folded channels and downloads included
        straight = [w for w in words if "'" in w or '"' in w]
        assert straight == [], straight


def test_typographic_quotes() -> None:
    assert typographic('Le "bon" choix d\'abord') == "Le «\u00a0bon\u00a0» choix d’abord"


def test_beacons_only_with_a_service_and_csp_allows_that_origin_only(tmp_path: Path) -> None:
    offline = _render(tmp_path / "a", None)[f"{SEGMENT}/index.html"]
    assert "connect-src 'none'" in offline and "data-balise=" not in offline
    page = _render(tmp_path / "b", "https://liens.example.org/")[f"{SEGMENT}/index.html"]
    assert "connect-src https://liens.example.org;" in page
    assert 'data-balise="https://liens.example.org/e"' in page
    assert 'data-edition="2026-11-24"' in page and 'data-angle="mobiliser"' in page
    assert 'data-segment="65plus-p01"' in page and 'data-canal="whatsapp"' in page
    # No angle in posts.json: the service would drop every beacon, so none are wired.
    no_angle = _render(tmp_path / "c", "https://liens.example.org", angle=None)
    assert "data-balise=" not in no_angle[f"{SEGMENT}/index.html"]
    with pytest.raises(BundleError, match="not an http"):
        _render(tmp_path / "d", "javascript:alert(1)")


def test_first_screen_order_font_and_pack_at_the_bottom(tmp_path: Path) -> None:
    page = _render(tmp_path, None)[f"{SEGMENT}/index.html"]
    # Per theme: the card, WhatsApp's post, then the other channels folded.
    first = page.index('id="theme-pouvoir-achat"')
    order = [
        page.index(marker, first)
        for marker in ("<img", 'id="post-pouvoir-achat-whatsapp"', '<details class="autres"')
    ]
    assert order == sorted(order)
    assert page.index('class="paquet"') > page.rindex("</section>")
    assert page.count('loading="lazy"') == page.count("<img") - 1  # all but the first card
    assert PAGE_FONT.stat().st_size < 16_000 and "font/woff2;base64," in page
    assert re.search(r"font-src data:;", page)
