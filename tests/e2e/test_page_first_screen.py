"""The activist page in two taps, in Chromium at 390×844 (one page load): the first theme's
card and WhatsApp post with Copier and Partager on the first screen, the other channels
folded, the pack at the bottom; Partager hands the inline card to the Web Share API; the
beacons it sends, and that nothing breaks when the link service is down."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest
from page_browser import PHONE, SEGMENT, phone, sample_pages, served

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

    # Beacons (issue 17 item 7): shown, shared, copied, each naming the page's cell.
    assert {(b["url"], b["type"]) for b in beacons} == {(f"{beacon}/e", "text/plain")}
    sent = [json.loads(b["body"]) for b in beacons]
    cell = {"edition": "2026-11-24", "segment": SEGMENT, "theme": "pouvoir-achat"}
    cell |= {"channel": "whatsapp", "angle": "mobiliser"}
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
