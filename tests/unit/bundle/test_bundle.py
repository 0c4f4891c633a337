"""The bundle: layout, manifest and schemas, reproducible packs, previews, the phone page."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from bundle_samples import (
    SEGMENTS,
    THEMES,
    build,
    card_jpeg,
    settings,
    write_inputs,
)
from markupsafe import escape

from matinale.bundle import (
    PREVIEW_MAX_BYTES,
    BundleError,
    make_pack,
    make_preview,
    read_bundle_files,
    render_pages,
)
from matinale.checks import load_schema, served_packs
from matinale.content import share_endpoints
from matinale.store import LocalStore


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalStore, dict]:
    store = LocalStore(tmp_path_factory.mktemp("bundle"))
    summary = build(store, "b")
    return store, summary


def _manifest(store: LocalStore) -> dict:
    return json.loads(store.get_bytes("b/manifest.json"))


def test_layout_and_manifest(bundle) -> None:
    store, summary = bundle
    manifest = _manifest(store)
    jsonschema.Draft202012Validator(load_schema("manifest")).validate(manifest)
    paths = {e["path"] for e in manifest["files"]}
    assert {"index.html", "compliance.json"} <= paths
    for segment in SEGMENTS:
        seg = segment["id"]
        assert {
            f"{seg}/index.html",
            f"{seg}/posts.json",
            f"{seg}/posts.md",
            f"{seg}/cards.json",
            f"{seg}/pack.zip",
        } <= paths
        assert {
            f"{seg}/cards/{t.id}-{f}.jpg" for t in THEMES for f in ("square", "landscape")
        } <= paths
    for entry in manifest["files"]:
        data = store.get_bytes(f"b/{entry['path']}")
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["segment"] == (entry["path"].split("/")[0] if "/" in entry["path"] else None)
    kinds = {e["path"]: e["kind"] for e in manifest["files"]}
    assert kinds["index.html"] == "overview" and kinds["65plus-p01/index.html"] == "page"
    assert (
        kinds["65plus-p01/cards/sante-square.jpg"] == "card"
        and kinds["65plus-p01/previews/sante-square.jpg"] == "preview"
    )
    card = next(e for e in manifest["files"] if e["path"] == "65plus-p01/cards/sante-landscape.jpg")
    assert (card["width"], card["height"]) == (1200, 675)
    # Alt texts are carried from cards.json into the manifest, for full-size cards only.
    cards_json = json.loads(store.get_bytes("b/65plus-p01/cards.json"))["cards"]
    assert card["alt"] == next(
        c["alt"] for c in cards_json if c["file"] == "cards/sante-landscape.jpg"
    )
    assert (card["theme"], card["format"]) == ("sante", "landscape")
    assert all("alt" in e for e in manifest["files"] if e["kind"] == "card")
    assert not [e["path"] for e in manifest["files"] if e["kind"] != "card" and "alt" in e]
    assert {"campaign.yaml", "code_version", "page_templates/segment.html.j2"} <= set(
        manifest["inputs"]
    )
    assert summary["files"] == len(manifest["files"]) + 1
    assert [(s["id"], s["kind"], s["page"]) for s in manifest["segments"]] == [
        (s["id"], "main", f"{s['id']}/index.html") for s in SEGMENTS
    ]


def test_compliance_is_counts_only(bundle) -> None:
    store, _ = bundle
    compliance = json.loads(store.get_bytes("b/compliance.json"))
    validator = jsonschema.Draft202012Validator(load_schema("compliance"))
    validator.validate(compliance)
    assert (
        compliance["checks"]["stage"] == "pending"
        and compliance["consent_by_channel"]["email"] == 2100
    )
    # A person's name slipped into a count map is not a count: the schema refuses it.
    assert not validator.is_valid({**compliance, "legal_basis": {"consent": "Hélène Dupont"}})
    assert not validator.is_valid(
        {**compliance, "quarantine_sample": ["helene.dupont@example.org"]}
    )


def test_packs_are_byte_reproducible(bundle, tmp_path: Path) -> None:
    store, _ = bundle
    again = LocalStore(tmp_path)
    build(again, "b")
    for segment in SEGMENTS:
        first = store.get_bytes(f"b/{segment['id']}/pack.zip")
        assert first == again.get_bytes(f"b/{segment['id']}/pack.zip")
        assert store.get_bytes(f"b/{segment['id']}/previews/sante-square.jpg") == again.get_bytes(
            f"b/{segment['id']}/previews/sante-square.jpg"
        )
    archive = zipfile.ZipFile(io.BytesIO(store.get_bytes("b/65plus-p01/pack.zip")))
    names = archive.namelist()
    assert names == sorted(names)
    assert set(names) >= {
        "65plus-p01/posts.json",
        "65plus-p01/posts.md",
        "65plus-p01/cards.json",
        "65plus-p01/textes-alternatifs.txt",
        "65plus-p01/cards/sante-square.jpg",
    }
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
    assert archive.read("65plus-p01/cards/sante-square.jpg") == store.get_bytes(
        "b/65plus-p01/cards/sante-square.jpg"
    )
    assert (
        "Visuel « Un médecin pour chacun »"
        in archive.read("65plus-p01/textes-alternatifs.txt").decode()
    )


def test_served_packs_store_each_card_once_and_give_the_stored_bytes(
    bundle, tmp_path: Path
) -> None:
    """Issue 21 item 5: with a link service the bundle has no pack.zip (its cards are stored
    once); the manifest names each pack's members, and the pack made from them is the
    stored pack of the same inputs, byte for byte."""
    stored, _ = bundle
    served = LocalStore(tmp_path)
    build(served, "b", packs="served")
    manifest = _manifest(served)
    jsonschema.Draft202012Validator(load_schema("manifest")).validate(manifest)
    assert manifest["packs"] == "served" and _manifest(stored)["packs"] == "stored"
    paths = {e["path"] for e in manifest["files"]}
    assert not [p for p in paths if p.endswith("pack.zip")]
    packs = served_packs(manifest)
    assert sorted(packs) == sorted(f"{s['id']}/pack.zip" for s in SEGMENTS)
    for segment in SEGMENTS:
        members = packs[f"{segment['id']}/pack.zip"]
        assert f"{segment['id']}/textes-alternatifs.txt" in paths
        built = make_pack({m: served.get_bytes(f"b/{m}") for m in members})
        assert built == stored.get_bytes(f"b/{segment['id']}/pack.zip")
    stored_bytes = sum(e["bytes"] for e in _manifest(stored)["files"])
    cards = sum(e["bytes"] for e in manifest["files"] if e["kind"] == "card")
    assert sum(e["bytes"] for e in manifest["files"]) < stored_bytes - cards
    # The page still offers the pack, at the same relative link the link service answers.
    assert 'href="pack.zip"' in served.get_bytes("b/65plus-p01/index.html").decode()
    with pytest.raises(BundleError, match="packs = 'both'"):
        build(LocalStore(tmp_path / "other"), "b", packs="both")


def test_pack_refuses_unsafe_names() -> None:
    with pytest.raises(BundleError, match="zip-slip"):
        make_pack({"seg/../../etc/passwd": b"x"})
    assert make_pack({"b.txt": b"2", "a.txt": b"1"}) == make_pack({"a.txt": b"1", "b.txt": b"2"})


def test_card_names_from_cards_json_cannot_escape(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_inputs(store, "b", SEGMENTS[:1])
    cards = json.loads(store.get_bytes("b/65plus-p01/cards.json"))
    cards["cards"][0]["file"] = "cards/../../../outside.jpg"
    store.put_bytes("b/65plus-p01/cards.json", json.dumps(cards).encode())
    with pytest.raises(BundleError, match=r"cards\[0\].file"):
        build(store, "b", segments=SEGMENTS[:1], write=False)


@pytest.mark.parametrize("bad", ["../x", "A-B", "a/b", "65plus p01"])
def test_segment_ids_must_be_slugs(tmp_path: Path, bad: str) -> None:
    with pytest.raises(BundleError, match="not a slug"):
        build(LocalStore(tmp_path), "b", segments=[{**SEGMENTS[0], "id": bad}], write=False)


def test_a_partial_edition_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_inputs(store, "b", SEGMENTS[:1])
    with pytest.raises(BundleError, match="1 of 2 segments have no posts.json"):
        build(store, "b", segments=SEGMENTS, write=False)


def test_previews_are_small_and_deterministic() -> None:
    card = card_jpeg("sante", "landscape", "s")
    preview, size, full = make_preview(card)
    # Box-averaged by the smallest whole factor that fits 360 px: 1200×675 → 300×169.
    assert full == (1200, 675) and size == (300, 169) and len(preview) <= PREVIEW_MAX_BYTES
    assert make_preview(card)[0] == preview
    smaller, size, _ = make_preview(card, max_bytes=12_000)
    assert len(smaller) <= 12_000 and max(size) <= 360


def test_only_the_shown_card_of_a_theme_has_a_preview(bundle) -> None:
    store, _ = bundle
    paths = {e["path"] for e in _manifest(store)["files"]}
    for segment in SEGMENTS:
        previews = {
            p.rsplit("/", 1)[-1] for p in paths if p.startswith(f"{segment['id']}/previews/")
        }
        # The page previews the square card of each theme; the landscape one is a download.
        assert previews == {f"{t.id}-square.jpg" for t in THEMES}


def test_the_bundle_uses_the_previews_the_visuals_stage_drew(tmp_path: Path) -> None:
    from PIL import Image

    store = LocalStore(tmp_path)
    write_inputs(store, "b", SEGMENTS)
    drawn = io.BytesIO()
    Image.new("RGB", (540, 540), "#1B3A6B").save(drawn, "JPEG", quality=72)
    store.put_bytes("b/65plus-p01/previews/sante-square.jpg", drawn.getvalue())
    build(store, "b", write=False)
    assert store.get_bytes("b/65plus-p01/previews/sante-square.jpg") == drawn.getvalue()
    entry = next(
        e for e in _manifest(store)["files"] if e["path"] == "65plus-p01/previews/sante-square.jpg"
    )
    assert (entry["width"], entry["height"], entry["kind"]) == (540, 540, "preview")
    page = _page(store)
    assert base64.b64encode(drawn.getvalue()).decode() in page and 'width="540"' in page


def _page(store: LocalStore, segment: str = "65plus-p01") -> str:
    return store.get_bytes(f"b/{segment}/index.html").decode()


def test_page_is_french_self_contained_and_light(bundle) -> None:
    store, summary = bundle
    page = _page(store)
    assert page.startswith("<!doctype html>") and '<html lang="fr">' in page
    assert "Votre matinale du mardi 24 novembre 2026" in page and "heure de Paris" in page
    assert "65 ans et plus · santé" in page
    for theme in THEMES:
        assert f'href="#theme-{theme.id}"' in page
    # Only bundle-relative links, inline images and the share fallbacks: no CDN, font or script.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?:", page)
    absolute = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert all(
        url.startswith(("https://ensemble-demain.example.org/", *share_endpoints()))
        for url in absolute
    ), absolute
    assert "default-src 'none'" in page and "connect-src 'none'" in page
    assert page.count('src="data:image/jpeg;base64,') == len(THEMES)
    assert 'href="pack.zip"' in page and 'href="cards/sante-landscape.jpg"' in page
    assert (
        summary["page_bytes_max"]
        == max(len(_page(store, s["id"]).encode()) for s in SEGMENTS)
        < 1_000_000
    )


def test_page_posts_and_buttons(bundle) -> None:
    store, _ = bundle
    page = _page(store)
    posts = json.loads(store.get_bytes("b/65plus-p01/posts.json"))["posts"]
    shared = [p for p in posts if p["channel"] in {"x", "facebook", "instagram", "whatsapp"}]
    blocks = len(THEMES) * 4
    assert page.count('data-action="copier"') == page.count('data-action="partager"') == blocks
    assert page.count('class="variante"') == len(shared)
    assert 'aria-label="Copier le texte WhatsApp – Un médecin pour chacun"' in page
    assert ">SMS<" not in page and ">E-mail<" not in page  # sent by the campaign, not shared
    # Every shared text is in the page exactly (escaped), so "Copier" can copy it.
    for post in shared:
        assert str(escape(post["text"])) in page


def test_page_escapes_untrusted_text(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    build(
        store,
        "b",
        segments=[{**SEGMENTS[0], "label": "<b>65+</b>"}],
        extra_text='<script>alert("x")</script>{{ 7*7 }}',
    )
    page = _page(store)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "{{ 7*7 }}" in page and "<b>65+</b>" not in page


def test_pages_render_with_any_linker(bundle) -> None:
    store, _ = bundle
    files = read_bundle_files(store, "b")
    pages = render_pages(
        files,
        _manifest(store),
        campaign=settings().campaign,
        zone=settings().clocks.campaign_tz,
        published_at=datetime(2026, 11, 24, 4, 12, tzinfo=UTC),
        linker=lambda page_dir: lambda path: f"https://s3.example.org/run/{path}?sig=1",
    )
    assert set(pages) == {"index.html", *(f"{s['id']}/index.html" for s in SEGMENTS)}
    page = pages["65plus-p01/index.html"].decode()
    assert 'href="https://s3.example.org/run/65plus-p01/pack.zip?sig=1"' in page
    assert "mardi 24 novembre 2026 à 05\u00a0h\u00a012" in page  # 04:12 UTC is 05:12 in Paris
    overview = pages["index.html"].decode()
    assert overview.count('href="https://s3.example.org/run/') == len(SEGMENTS) + 2


def test_each_file_is_hashed_once_for_both_manifests(tmp_path: Path, monkeypatch) -> None:
    # The pages are rendered from a first manifest, then the final one lists them too: a
    # card's bytes are hashed once (the bench's bundle stage reads 450 MB).
    import collections

    from bundle_samples import build

    from matinale.store import LocalStore

    hashed: collections.Counter[bytes] = collections.Counter()
    real = hashlib.sha256

    def counting(data: bytes = b"", **kwargs):
        if len(data) > 1000:
            hashed[data] += 1
        return real(data, **kwargs)

    monkeypatch.setattr(hashlib, "sha256", counting)
    store = LocalStore(tmp_path / "work")
    build(store, "b")
    cards = [k for k in store.list("b") if "/cards/" in k]

    assert cards and all(hashed[store.get_bytes(k)] == 1 for k in cards)
