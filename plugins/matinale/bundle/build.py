"""Build the bundle of one run: previews, packs, pages, compliance.json and the manifest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from matinale.bundle.common import (
    COMPLIANCE,
    COMPLIANCE_SCHEMA,
    MANIFEST,
    MANIFEST_SCHEMA,
    PARIS,
    BundleError,
    check_slug,
)
from matinale.bundle.manifest import (
    _template_checksums,
    _validate,
    build_manifest,
    read_bundle_files,
    write_manifest,
)
from matinale.bundle.packs import (
    ALT_TEXTS,
    PACK,
    PACK_MODES,
    _alt_texts,
    _image_size,
    _posts_markdown,
    _shown_cards,
    make_pack,
    make_preview,
    pack_members,
)
from matinale.bundle.page import relative_linker, render_pages
from matinale.checks import Sha256s, safe_member_name
from matinale.content.channels import channels
from matinale.segment import Segment
from matinale.store import Store

if TYPE_CHECKING:
    from matinale.content.brief import Brief
    from matinale.settings import Campaign


def _read_segment(
    store: Store, prefix: str, segment_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = f"{prefix}/{segment_id}"
    try:
        posts = json.loads(store.get_bytes(f"{base}/posts.json"))["posts"]
        cards = json.loads(store.get_bytes(f"{base}/cards.json"))["cards"]
    except (KeyError, json.JSONDecodeError) as exc:
        raise BundleError(
            f"segment {segment_id}: posts.json or cards.json is malformed ({exc}); rerun content and visuals"
        ) from exc
    for index, card in enumerate(cards):
        name = card.get("file") if isinstance(card, dict) else None
        if (
            not isinstance(name, str)
            or not name.startswith("cards/")
            or not safe_member_name(name)
            or name.count("/") != 1
        ):
            raise BundleError(
                f"segment {segment_id}: cards.json cards[{index}].file = {str(name)[:60]!r} must be cards/<name> with a safe name"
            )
    return posts, cards


def _segment_files(
    store: Store,
    prefix: str,
    segment: Segment,
    themes: list[dict[str, Any]],
    edition: date,
    labels: Mapping[str, str],
    *,
    packs: str,
) -> dict[str, tuple[int, int]]:
    """One segment's posts.md (when content wrote none), alt texts, previews and, when the
    packs are stored, its pack; the sizes of its cards and previews, by bundle path."""
    base = f"{prefix}/{segment.id}"
    posts, cards = _read_segment(store, prefix, segment.id)
    if not store.exists(f"{base}/posts.md"):
        store.put_bytes(
            f"{base}/posts.md",
            _posts_markdown(segment, posts, themes, edition, labels).encode("utf-8"),
        )
    store.put_bytes(f"{base}/{ALT_TEXTS}", _alt_texts(cards).encode("utf-8"))
    sizes: dict[str, tuple[int, int]] = {}
    for card in cards:
        width, height = card.get("width"), card.get("height")
        sizes[f"{segment.id}/{card['file']}"] = (
            (width, height)
            if isinstance(width, int) and isinstance(height, int)
            else _image_size(store.get_bytes(f"{base}/{card['file']}"))
        )
    for card in _shown_cards(cards):
        name = card["file"].rsplit("/", 1)[-1]
        key = f"{base}/previews/{name}"
        if store.exists(key):  # drawn with the card by the visuals stage
            small = _image_size(store.get_bytes(key))
        else:
            preview, small, _ = make_preview(store.get_bytes(f"{base}/{card['file']}"))
            store.put_bytes(key, preview)
        sizes[f"{segment.id}/previews/{name}"] = small
    if packs == "stored":
        names = [f"{segment.id}/{card['file']}" for card in cards]
        names += [f"{segment.id}/{n}" for n in ("posts.json", "posts.md", "cards.json", ALT_TEXTS)]
        members = pack_members(names, segment.id)
        store.put_bytes(
            f"{base}/{PACK}",
            make_pack({name: store.get_bytes(f"{prefix}/{name}") for name in members}),
        )
    return sizes


def build_bundle(
    store: Store,
    prefix: str,
    *,
    edition: date,
    run: str,
    segments: list[Segment],
    brief: Brief,
    campaign: Campaign,
    inputs: Mapping[str, str],
    compliance: Mapping[str, Any],
    zone: ZoneInfo = PARIS,
    generated_at: datetime | None = None,
    templates_dir: Path | None = None,
    packs: str = "stored",
) -> dict[str, Any]:
    """Write previews, packs, pages, compliance.json and the manifest under ``prefix``.

    ``prefix`` is the run's ``bundle/`` folder, where content and visuals left posts.json,
    cards.json and cards/ per segment. Every segment must have them: a partial edition must
    not replace a whole one. Channels are named, ordered and shared as ``templates_dir``'s
    channels.yaml says (default: the project's content_templates/). ``packs`` is ``stored``
    (each segment's pack.zip is a bundle file) or ``served`` (a link service builds it on
    request from the bundle's files: the cards are stored once; the manifest says which).
    """
    if packs not in PACK_MODES:
        raise BundleError(f"packs = {packs!r}: use one of {', '.join(PACK_MODES)}")
    labels = {channel.id: channel.label for channel in channels(templates_dir)}
    generated_at = generated_at or datetime.now(UTC)
    themes = [{"id": t.id, "title": t.title, "key_message": t.key_message} for t in brief.themes]
    # An unlabelled segment is shown by its id.
    wanted = [replace(s, id=check_slug(s.id), label=s.label or s.id) for s in segments]
    missing = [
        s.id
        for s in wanted
        if not (
            store.exists(f"{prefix}/{s.id}/posts.json")
            and store.exists(f"{prefix}/{s.id}/cards.json")
        )
    ]
    if missing:
        raise BundleError(
            f"{len(missing)} of {len(wanted)} segments have no posts.json/cards.json ({', '.join(missing[:5])}…): "
            "a partial edition cannot be published as a whole; rerun content and visuals for every segment"
        )
    if not wanted:
        raise BundleError(
            "no segment to bundle: segmentation produced none; see the segment task's report"
        )

    image_sizes: dict[str, tuple[int, int]] = {}
    for segment in wanted:
        image_sizes.update(
            _segment_files(store, prefix, segment, themes, edition, labels, packs=packs)
        )

    store.put_bytes(
        f"{prefix}/{COMPLIANCE}",
        write_manifest(
            {
                "schema": COMPLIANCE_SCHEMA,
                "edition": edition.isoformat(),
                "run": run,
                **compliance,
                "checks": {"stage": "pending", "passed": False, "checks": {}},
            }
        ),
    )
    meta = {
        "schema": MANIFEST_SCHEMA,
        "edition": edition.isoformat(),
        "run": run,
        "campaign": campaign.slug,
        "generated_at": generated_at.astimezone(UTC).isoformat(timespec="seconds"),
        "published_at": None,
        "themes": themes,
        "segments": [
            {
                "id": s.id,
                "label": s.label,
                "size": s.size,
                "kind": s.kind,
                "page": f"{s.id}/index.html",
            }
            for s in wanted
        ],
        "inputs": {**inputs, **_template_checksums()},
        "packs": packs,
    }
    files = read_bundle_files(store, prefix)
    sha256 = Sha256s()  # each file hashed once for both manifests
    pages = render_pages(
        files,
        build_manifest(files, meta, image_sizes, digest_of=sha256),
        campaign=campaign,
        zone=zone,
        published_at=generated_at,
        linker=relative_linker,
        templates_dir=templates_dir,
    )
    for path, data in pages.items():
        store.put_bytes(f"{prefix}/{path}", data)
    files.update(pages)
    manifest = build_manifest(files, meta, image_sizes, digest_of=sha256)
    _validate(manifest, "manifest")
    store.put_bytes(f"{prefix}/{MANIFEST}", write_manifest(manifest))
    page_bytes = [len(pages[f"{s.id}/index.html"]) for s in wanted]
    return {
        "files": len(files) + 1,
        "bytes": sum(len(d) for d in files.values()),
        "segments": len(wanted),
        "page_bytes_max": max(page_bytes),
    }
