"""The activist page in a real headless Chromium, as published: on a phone-sized screen,
through presigned links of a real (private) S3 server."""

from __future__ import annotations

import contextlib
import json
import secrets
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from bundle_samples import EDITION, SEGMENTS, build, settings
from chromium import launch_phone
from playwright.sync_api import expect

from matinale.checks import PiiScanner, limits_from
from matinale.publish import Presigner, PublishConfig, edition_prefix, publish_bundle
from matinale.store import LocalStore

pytestmark = pytest.mark.browser


ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
RUN = "20261124T041200Z-b0b0"
# WCAG 2.1 contrast of a text element against the first opaque background behind it.
CONTRAST_JS = """
(selector) => {
  const channels = (css) => css.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = channels(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  return Array.from(document.querySelectorAll(selector)).filter((el) => el.offsetParent).map((el) => {
    const a = luminance(channels(getComputedStyle(el).color)), b = luminance(background(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  });
}
"""


@pytest.fixture(scope="module")
def published(s3_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A bundle built and published by the real code to fresh private buckets."""
    client = s3_server.client()
    buckets = {
        role: f"matinale-browser-{role}-{secrets.token_hex(4)}" for role in ("bundle", "private")
    }
    s3_server.ensure_buckets(*buckets.values())
    store = LocalStore(tmp_path_factory.mktemp("work"))
    build(store, "b")
    s = settings()
    config = PublishConfig(
        bucket=buckets["bundle"],
        private_bucket=buckets["private"],
        campaign=s.campaign,
        expiry=timedelta(hours=2),
        allowed_domains=s.allowed_domains,
        limits=limits_from(s.raw),
        zone=s.clocks.campaign_tz,
    )
    people = pd.DataFrame(
        {"supporter_id": ["S0000001"], "first_name": ["Hélène"], "last_name": ["Dupont"]}
    )
    result = publish_bundle(
        client,
        store,
        "b",
        edition=EDITION,
        run=RUN,
        config=config,
        scanner=PiiScanner.from_frames([people]),
    )
    presign = Presigner(client, buckets["bundle"], edition_prefix(EDITION, RUN), timedelta(hours=2))
    posts = json.loads(store.get_bytes(f"b/{SEGMENTS[0]['id']}/posts.json"))["posts"]
    yield {**result, "presign": presign, "posts": posts, "store": store}
    for name in buckets.values():
        with contextlib.suppress(Exception):
            client.delete_bucket(Bucket=name)


@pytest.fixture
def phone(tmp_path: Path, published) -> Iterator[dict[str, Any]]:
    """A phone-sized Chromium context that fails any request outside the run's own objects."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    problems: list[str] = []
    base = published["presign"].base

    def only_the_bundle(route: Any) -> None:
        url = route.request.url
        if url.startswith(base):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_playwright() as playwright:
        context = launch_phone(playwright, tmp_path / "profile")
        try:
            context.grant_permissions(
                ["clipboard-read", "clipboard-write"],
                origin=base.split("/", 3)[0] + "//" + base.split("/", 3)[2],
            )
            context.route("**/*", only_the_bundle)
            page = context.pages[0] if context.pages else context.new_page()
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in {"error", "warning"}
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            yield {"context": context, "page": page, "outside": outside, "problems": problems}
        finally:
            context.close()


def _no_horizontal_scroll(page: Any) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth, document.body.scrollWidth]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[1], widths


def _visible_text(post: Any) -> str:
    return post.locator(".variante:not([hidden]) .texte").text_content()


def test_segment_page_on_a_phone(published, phone) -> None:
    page = phone["page"]
    response = page.goto(published["sample_page_url"], wait_until="load")
    assert response.status == 200
    html = response.body()
    print(f"\nsegment page weight: {len(html) / 1000:.0f} KB")
    assert len(html) < 1_000_000
    assert page.evaluate("document.documentElement.lang") == "fr"
    assert page.title().startswith("Ensemble Demain – votre matinale du mardi 24 novembre 2026")
    _no_horizontal_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-mobile.png"))
    page.screenshot(path=str(ARTIFACTS / "page-mobile-full.png"), full_page=True)

    # Accessible: every button and image named, enough contrast (WCAG AA 4.5:1 for text).
    # Previews below the fold are decoded when scrolled to: scroll there and back first.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    page.evaluate("window.scrollTo(0, 0)")
    assert page.evaluate(
        "Array.from(document.querySelectorAll('button')).every(b => (b.getAttribute('aria-label') || b.textContent).trim().startsWith(b.textContent.trim()) && b.textContent.trim())"
    )
    assert page.evaluate(
        "Array.from(document.images).every(i => i.alt.trim() && i.complete && i.naturalWidth > 0)"
    )
    ratios = page.evaluate(CONTRAST_JS, "h1, h2, h3, p, li, .texte, .bouton, a, .detail, .version")
    assert ratios and min(ratios) >= 4.5, min(ratios)

    shared = {p["text"] for p in published["posts"]}
    posts = page.locator("article.post")
    assert posts.count() == 8

    # "Copier" puts the exact post text on the clipboard.
    first = posts.nth(0)
    expected = _visible_text(first)
    assert expected in shared
    first.get_by_role("button", name="Copier").click()
    expect(first.get_by_role("button", name="Copier")).to_have_text("Copié ✓")
    assert page.evaluate("navigator.clipboard.readText()") == expected
    expect(page.locator("#annonce")).to_contain_text(
        "Texte copié"
    )  # set 30 ms after the click: wait, do not race

    # The keyboard alone works too: open the folded channels, focus the next post's "Copier"
    # and press Enter.
    page.locator("details.autres summary").first.click()
    second = posts.nth(1)
    button = second.get_by_role("button", name="Copier")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_text("Copié ✓")
    assert page.evaluate("navigator.clipboard.readText()") == _visible_text(second) != expected

    # "Autre version" shows another variant of the same post.
    before = _visible_text(first)
    first.get_by_role("button", name="Autre version").click()
    assert _visible_text(first) != before and _visible_text(first) in shared

    # "Partager": Web Share where the phone has it, otherwise WhatsApp, X and Facebook links.
    first.get_by_role("button", name="Partager").click()
    if not page.evaluate("!!navigator.share"):
        fallback = first.locator(".repli")
        assert fallback.is_visible()
        whatsapp = fallback.locator("[data-reseau=whatsapp]").get_attribute("href")
        assert whatsapp.startswith("https://wa.me/?text=")
        assert urllib.parse.unquote(whatsapp.split("text=", 1)[1]) == _visible_text(first)
        assert (
            fallback.locator("[data-reseau=facebook]")
            .get_attribute("href")
            .startswith(
                "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fensemble-demain.example.org%2F"
            )
        )

    # Offline once opened: everything shown is already in the page (lazy previews included).
    phone["context"].set_offline(True)
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    button = posts.nth(2).get_by_role("button", name="Copier")
    button.click()
    expect(button).to_have_text("Copié ✓")
    assert page.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)")
    assert page.evaluate("navigator.clipboard.readText()") == _visible_text(posts.nth(2))

    assert phone["outside"] == [], "requests left the bundle"
    assert phone["problems"] == []


def test_full_size_download_and_overview(published, phone) -> None:
    page = phone["page"]
    response = page.goto(published["overview_url"], wait_until="load")
    assert response.status == 200
    _no_horizontal_scroll(page)
    links = page.locator("table a")
    assert links.count() == len(SEGMENTS)
    with page.expect_navigation():
        links.nth(0).click()
    assert page.locator("h1").text_content() == "Votre matinale du mardi 24 novembre 2026"
    page.locator("details.visuels summary").first.click()
    download = page.locator(".telechargements a").first.get_attribute("href")
    assert download.startswith(published["presign"].base)
    with urllib.request.urlopen(download, timeout=10) as full:
        assert full.read() == published["store"].get_bytes(
            f"b/{SEGMENTS[0]['id']}/cards/pouvoir-achat-square.jpg"
        )
    assert phone["outside"] == [] and phone["problems"] == []
