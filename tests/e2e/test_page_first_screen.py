"""The activist page in two taps, in Chromium at 390×844 (one page load per test): the first
theme's card and WhatsApp post with Copier and Partager on the first screen, the other channels
folded, the pack at the bottom; Partager hands the inline card to the Web Share API; the
beacons it sends and that nothing breaks when the link service is down; and, against the real
link service (uvicorn, SeaweedFS, SQLite), that one Copier tap is exactly one counted ``copy``.
Pages are rendered from the sample bundle with a beacon origin and served over http."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from bundle_samples import SEGMENTS, build, render_sample_pages
from chromium import PHONE, launch_phone
from links_live import link_settings, live_service

from matinale.links import LinkState
from matinale.links.codes import CODE_ALPHABET
from matinale.links.counts import Counts, make_engine
from matinale.store import LocalStore

ANGLE = "mobiliser"
VARIANT_ANGLES = (ANGLE, "devoir-civique", "proximite")
SEGMENT = SEGMENTS[0]["id"]


def sample_pages(folder: Path, beacon_origin: str | None) -> dict[str, Any]:
    """Build the sample bundle (its posts.json naming ``ANGLE``) and write its pages, rendered
    with ``beacon_origin``, under ``folder``; returns the store and the first segment's posts."""
    store = LocalStore(folder / "work")
    build(store, "b")
    for segment in SEGMENTS:
        key = f"b/{segment['id']}/posts.json"
        data = store.get_json(key)
        for post in data["posts"]:  # each version its own angle, as the content stage writes
            post["angle"] = VARIANT_ANGLES[(post["variant"] - 1) % len(VARIANT_ANGLES)]
        store.put_bytes(key, json.dumps({**data, "angle": ANGLE}).encode())
    pages = render_sample_pages(store, "b", beacon_origin=beacon_origin)
    site = folder / "site"
    for path, data in pages.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(data)
    posts = store.get_json(f"b/{SEGMENT}/posts.json")["posts"]
    return {"store": store, "site": site, "posts": posts, "page": pages[f"{SEGMENT}/index.html"]}


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over http on 127.0.0.1 (a page must not be a file: for its beacons)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def phone(profile: Path) -> Iterator[dict[str, Any]]:
    """A phone-sized Chromium page recording console problems and the requests it makes."""
    from playwright.sync_api import sync_playwright

    problems: list[Any] = []
    requests: list[Any] = []
    with sync_playwright() as playwright:
        context = launch_phone(playwright, profile)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.on(
                "console", lambda m: problems.append(m) if m.type in {"error", "warning"} else None
            )
            page.on("pageerror", lambda e: problems.append(e))
            page.on("request", lambda r: requests.append(r))
            yield {"context": context, "page": page, "problems": problems, "requests": requests}
        finally:
            context.close()


pytestmark = pytest.mark.browser

# A stand-in for the phone's share sheet: records what the page hands it.
SHARE_STUB = """
window.__partages = [];
navigator.canShare = (data) => !!(data && data.files && data.files.every((f) => f instanceof File));
navigator.share = async (data) => {
  const files = [];
  for (const f of data.files || []) {
    const bytes = new Uint8Array(await f.arrayBuffer());
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    files.push({ name: f.name, type: f.type, size: f.size, base64: btoa(binary) });
  }
  window.__partages.push({ text: data.text, files });
};
// The beacons, read as they leave (then sent for real, to the closed port).
window.__balises = [];
const sendBeacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, data) => {
  data.text().then((body) => window.__balises.push({ url, type: data.type, body }));
  return sendBeacon(url, data);
};
"""


def _closed_port() -> int:
    """A free port on 127.0.0.1, closed again once the probe is gone."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again once the probe is gone


def test_first_screen_share_with_the_image_and_the_service_down(tmp_path: Path) -> None:
    beacon = f"http://127.0.0.1:{_closed_port()}"
    sample = sample_pages(tmp_path, beacon)
    with served(sample["site"]) as base, phone(tmp_path / "profile") as browser:
        page = browser["page"]
        page.add_init_script(SHARE_STUB)
        assert page.goto(f"{base}/{SEGMENT}/index.html", wait_until="load").status == 200
        first = page.locator("article.post").first
        assert first.locator("h3").text_content() == "WhatsApp"

        # Protects item 1: one tap copies, two share, without scrolling.
        boxes = page.evaluate(
            """() => ['figure img', 'article.post [data-action=copier]',
                      'article.post [data-action=partager]', '.paquet'].map((s) => {
                const b = document.querySelector(s).getBoundingClientRect();
                return [Math.round(b.top), Math.round(b.bottom)]; })"""
        )
        image, copy, share, pack = boxes
        height = page.evaluate("document.documentElement.scrollHeight")
        print(f"\nfirst screen: image {image}, Copier {copy}, Partager {share}; height {height} px")
        assert 0 <= image[0] and image[1] <= PHONE["height"]
        assert 0 <= copy[0] and copy[1] <= PHONE["height"] and share[1] <= PHONE["height"]
        assert height <= 4 * PHONE["height"], height / PHONE["height"]
        assert pack[0] > page.evaluate(
            "document.querySelector('section:last-of-type').getBoundingClientRect().bottom"
        )
        # The other channels are folded under their theme, closed until asked for.
        folded = page.locator("details.autres").first
        assert not folded.get_attribute("open") and not folded.locator("article").first.is_visible()
        assert "Facebook" in folded.locator("summary").text_content()

        # Protects item 4: the shared file is the inline card preview, named after the post.
        text = first.locator(".variante:not([hidden]) .texte").text_content()
        shown_angle = first.locator(".variante:not([hidden])").get_attribute("data-angle")
        first.get_by_role("button", name="Partager").click()
        page.wait_for_function("window.__partages.length === 1")
        shared = page.evaluate("window.__partages[0]")
        preview = sample["store"].get_bytes(f"b/{SEGMENT}/previews/pouvoir-achat-square.jpg")
        assert shared["text"] == text
        assert [(f["name"], f["type"], f["size"]) for f in shared["files"]] == [
            ("pouvoir-achat-whatsapp.jpg", "image/jpeg", len(preview))
        ]
        assert base64.b64decode(shared["files"][0]["base64"]) == preview

        first.get_by_role("button", name="Copier").click()
        page.get_by_text("Copié ✓").first.wait_for()
        page.wait_for_timeout(300)  # let the beacons leave
        beacons = page.evaluate("window.__balises")

    # Beacons (issue 17 item 7): shown, shared, copied, each naming the cell of the version
    # on screen: its own angle (issue 18: the night learns per angle), as posts.json has it.
    assert {(b["url"], b["type"]) for b in beacons} == {(f"{beacon}/e", "text/plain")}
    sent = [json.loads(b["body"]) for b in beacons]
    whatsapp = [
        p for p in sample["posts"] if p["theme"] == "pouvoir-achat" and p["channel"] == "whatsapp"
    ]
    assert shown_angle and shown_angle in {p["angle"] for p in whatsapp}
    cell = {"edition": "2026-11-24", "segment": SEGMENT, "theme": "pouvoir-achat"}
    cell |= {"channel": "whatsapp", "angle": shown_angle}
    assert {**cell, "event": "variant_shown"} in sent
    assert {**cell, "event": "share"} in sent and {**cell, "event": "copy"} in sent
    assert len(sent) == len({json.dumps(b, sort_keys=True) for b in sent})  # each once
    assert any(r.url == f"{beacon}/e" for r in browser["requests"])  # really sent
    # The service is down: no script error; Chromium's own network line is all there is.
    problems = [
        str(getattr(p, "text", p))
        for p in browser["problems"]
        if not (
            getattr(p, "location", {}).get("url", "").startswith(beacon)
            and "ERR_CONNECTION_REFUSED" in p.text
        )
    ]
    assert problems == []


# The phone's dice, fixed: every draw of the page reads 0.5.
HALF_RANDOM = "Math.random = () => 0.5;"


def test_the_phone_starts_on_a_version_drawn_by_the_learned_weights(tmp_path: Path) -> None:
    """Issue 18 item 3: the first version shown is drawn by the weights the night learnt
    (posts.json ``weight``), and "Autre version" goes from the likeliest to the least."""
    store = LocalStore(tmp_path / "work")
    build(store, "b", variants=3)
    key = f"b/{SEGMENT}/posts.json"
    data = store.get_json(key)
    by_number = {1: 0.1, 2: 0.3, 3: 0.6}  # the draw at 0.5 lands on version 3; even chances, 2
    for post in data["posts"]:
        post["angle"] = f"angle-{post['variant']}"  # one angle each: weights stay as written
        post["weight"] = by_number[post["variant"]]
    store.put_bytes(key, json.dumps(data).encode())
    site = tmp_path / "site"
    for path, page_bytes in render_sample_pages(store, "b", beacon_origin=None).items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(page_bytes)
    with served(site) as base, phone(tmp_path / "profile") as browser:
        page = browser["page"]
        page.add_init_script(HALF_RANDOM)
        assert page.goto(f"{base}/{SEGMENT}/index.html", wait_until="load").status == 200
        first = page.locator("article.post").first
        weights = [float(v.get_attribute("data-poids")) for v in first.locator(".variante").all()]
        assert weights == [0.1, 0.3, 0.6]
        # Even chances would start on version 2 (0.5 × 3); the weights start on version 3.
        assert first.get_attribute("data-choix") == "2"
        assert first.locator(".variante:not([hidden]) .version").text_content() == (
            "Version 3 sur 3"
        )
        # "Autre version" goes from the likeliest to the least: 3 → 2 → 1 → 3 (in numbers'
        # order it would go 3 → 1 → 2).
        order = []
        for _ in range(3):
            first.get_by_role("button", name="Autre version").click()
            order.append(first.get_attribute("data-choix"))
        assert order == ["1", "0", "2"]
        assert browser["problems"] == []


EDITION = date(2026, 11, 24)


def _copies(db_url: str) -> dict[tuple[str, str], int]:
    engine = make_engine(db_url)
    try:
        return {(s, e): n for s, e, n in Counts(engine).totals(EDITION.isoformat())}
    finally:
        engine.dispose()


@pytest.mark.s3
def test_one_copier_tap_is_one_counted_copy(
    s3_server: Any, s3_buckets: dict[str, str], tmp_path: Path
) -> None:
    bucket = s3_buckets["bundle"]
    settings = link_settings(bucket)
    client = s3_server.client()
    port = _closed_port()
    sample = sample_pages(tmp_path, f"http://127.0.0.1:{port}")
    # The run's cells, as publish registers them from posts.json (one short link per cell).
    cells = sorted({(p["theme"], p["channel"], p["angle"]) for p in sample["posts"]})
    state = LinkState(client, bucket)
    state.reserve_stem(EDITION, "run1", stem="abc")
    state.register_run(
        EDITION,
        "run1",
        {
            "abcdef"
            + CODE_ALPHABET[i // len(CODE_ALPHABET)]
            + CODE_ALPHABET[i % len(CODE_ALPHABET)]: {
                "segment": SEGMENT,
                "theme": theme,
                "channel": channel,
                "angle": angle,
                "destination": "https://ensemble-demain.example.org/agir",
            }
            for i, (theme, channel, angle) in enumerate(cells)
        },
    )
    db_url = f"sqlite:///{tmp_path / 'links.db'}"
    with (
        live_service(settings, client, port=port, db_url=db_url),
        served(sample["site"]) as base,
        phone(tmp_path / "profile") as browser,
    ):
        page = browser["page"]
        page.goto(f"{base}/{SEGMENT}/index.html", wait_until="load")
        button = page.locator("article.post").first.get_by_role("button", name="Copier")
        button.click()
        page.get_by_text("Copié ✓").first.wait_for()
        deadline = time.monotonic() + 5
        while _copies(db_url).get((SEGMENT, "copy")) != 1:
            assert time.monotonic() < deadline, _copies(db_url)
            time.sleep(0.1)
        # /e answers with `Cross-Origin-Resource-Policy: cross-origin` (links/guard.py):
        # the page on the bucket's origin logs nothing, not even a blocked answer.
        problems = [str(getattr(p, "text", p)) for p in browser["problems"]]
        assert problems == []
    counted = _copies(db_url)  # after the clean shutdown's last flush
    assert counted[(SEGMENT, "copy")] == 1 and counted[(SEGMENT, "variant_shown")] >= 1
    assert (SEGMENT, "implausible") not in counted and (SEGMENT, "share") not in counted
