"""Shared by the page's browser tests: a sample bundle's pages rendered with a beacon origin,
served from a folder over http on 127.0.0.1, and a phone-sized Chromium (390×844)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bundle_samples import SEGMENTS, build, settings
from chromium import CHROMIUM, CHROMIUM_FLAGS

from matinale.bundle import read_bundle_files, render_pages
from matinale.bundle.page import relative_linker
from matinale.store import LocalStore

PHONE = {"width": 390, "height": 844}
ANGLE = "mobiliser"
SEGMENT = SEGMENTS[0]["id"]


def sample_pages(folder: Path, beacon_origin: str | None) -> dict[str, Any]:
    """Build the sample bundle (its posts.json naming ``ANGLE``) and write its pages, rendered
    with ``beacon_origin``, under ``folder``; returns the store and the first segment's posts."""
    store = LocalStore(folder / "work")
    build(store, "b")
    for segment in SEGMENTS:
        key = f"b/{segment['id']}/posts.json"
        store.put_bytes(key, json.dumps({**store.get_json(key), "angle": ANGLE}).encode())
    s = settings()
    pages = render_pages(
        read_bundle_files(store, "b"),
        store.get_json("b/manifest.json"),
        campaign=s.campaign,
        zone=s.clocks.campaign_tz,
        published_at=datetime(2026, 11, 24, 4, 12, tzinfo=UTC),
        linker=relative_linker,
        beacon_origin=beacon_origin,
    )
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
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="fr-FR",
        )
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
