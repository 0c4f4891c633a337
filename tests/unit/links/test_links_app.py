"""The link service's routes in process (TestClient over an in-memory S3); the same
behaviour against a real uvicorn and SeaweedFS is in tests/links/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from matinale.links import LinkState, Tuning, create_app
from matinale.publish.pointers import promote
from matinale.settings import LinkService, load_settings

BUNDLE = "bundle"
EDITION = date(2026, 11, 24)
CELL = {"segment": "s01", "theme": "logement", "channel": "x", "angle": "mobiliser"}


def _publish(s3: Any, run: str) -> None:
    prefix = f"editions/{EDITION}/{run}"
    manifest = {"segments": [{"id": "s01", "page": "s01/index.html"}]}
    s3.put_object(Bucket=BUNDLE, Key=f"{prefix}/manifest.json", Body=json.dumps(manifest).encode())
    promote(s3, BUNDLE, EDITION, run)


@pytest.fixture
def service(memory_s3: Any, tmp_path: Path) -> Iterator[tuple[TestClient, LinkState, str]]:
    settings = replace(
        load_settings(),
        bundle_bucket=BUNDLE,
        link_service=LinkService(state_bucket=BUNDLE, counts_retention_days=100_000),
    )
    state = LinkState(memory_s3, BUNDLE)
    token = state.ensure_tokens(["s01"])["s01"]
    state.reserve_stem(EDITION, "run1", stem="abc")
    state.register_run(
        EDITION, "run1", {"abcdefgh": {**CELL, "destination": "https://example.org/agir"}}
    )
    _publish(memory_s3, "run1")
    app = create_app(
        settings,
        client=memory_s3,
        db_url=f"sqlite:///{tmp_path / 'links.db'}",
        tuning=Tuning(pointer_seconds=0.05, state_seconds=0.05, rate_per_second=1000, burst=1000),
    )
    with TestClient(app, follow_redirects=False) as client:
        yield client, state, token


def test_open_redirects_to_the_presigned_page_with_security_headers(service: Any) -> None:
    client, _state, token = service
    answer = client.get(f"/p/{token}")
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(
        "https://s3.test/bundle/editions/2026-11-24/run1/s01/index.html?"
    )
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.hostile
@pytest.mark.parametrize(
    "path",
    [
        "/s/zzzzzzzz",
        "/s/%2F%2Fevil.example",
        "/s//evil.example",
        "/s/abcdefgh/..%2F..",
        "/p/x",
        "/nope",
    ],
)
def test_unknown_links_get_the_french_404_page(service: Any, path: str) -> None:
    client, _state, _token = service
    answer = client.get(path)
    assert answer.status_code == 404 and "location" not in answer.headers
    assert "Lien inconnu" in answer.text


def test_short_link_counts_clicks_and_previews_apart(service: Any) -> None:
    client, _state, _token = service
    assert client.get("/s/abcdefgh").headers["location"] == "https://example.org/agir"
    client.get("/s/abcdefgh", headers={"user-agent": "WhatsApp/2.23"})
    client.head("/s/abcdefgh")
    counts = client.app.state.counts  # type: ignore[attr-defined]
    counts.flush()
    assert list(counts.totals("2026-11-24")) == [("s01", "click", 1), ("s01", "preview", 1)]


def test_beacons_outside_the_table_are_dropped(service: Any) -> None:
    client, _state, token = service
    client.get(f"/p/{token}")
    good = {"edition": "2026-11-24", **CELL}
    for event in ("variant_shown", "copy", "share"):
        assert client.post("/e", content=json.dumps({**good, "event": event})).status_code == 204
    client.post("/e", content=json.dumps({**good, "angle": "autre", "event": "copy"}))
    assert client.post("/e", content=b"not json").status_code == 400
    counts = client.app.state.counts  # type: ignore[attr-defined]
    counts.flush()
    assert dict(((s, e), n) for s, e, n in counts.totals("2026-11-24")) == {
        ("s01", "open"): 1,
        ("s01", "variant_shown"): 1,
        ("s01", "copy"): 1,
        ("s01", "implausible"): 1,
    }


def test_rotation_and_withdrawal_answer_their_pages(service: Any) -> None:
    client, state, token = service
    state.rotate("s01")
    state.withdraw(EDITION)
    client.app.state.resolver.refresh_state()  # type: ignore[attr-defined]
    replaced = client.get(f"/p/{token}")
    assert replaced.status_code == 410 and "Lien remplacé" in replaced.text
    new = state.active(state.tokens())["s01"]
    assert "Édition retirée" in client.get(f"/p/{new}").text
    assert client.get("/s/abcdefgh").status_code == 410
    assert client.get("/healthz").json() == {"ok": True, "published": True}
