"""Assemble the morning bundle: pages, packs, previews, compliance and the manifest.

The bundle is files in the work store under the run's ``bundle/`` folder; publishing them is
a separate step (``matinale.publish``). No supporter-level data is ever part of it.

Pages are rendered twice from the same data: here with relative links (a downloaded copy
works from disk, offline) and again at publish time with presigned links, because relative
links do not survive presigned URLs (each object carries its own signature). Card previews
are reduced JPEGs inlined as data URIs, so a page is one request and stays readable offline;
full-size cards and the pack are links.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import mimetypes
import posixpath
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from matinale.checks import safe_member_name, schema_problems
from matinale.store import Store
from matinale.visuals import FORMAT_ORDER, PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE, preview_format

__all__ = [
    "ACTIVIST_CHANNELS",
    "CHANNEL_LABELS",
    "COMPLIANCE",
    "FORMAT_LABELS",
    "MANIFEST",
    "PARIS",
    "PREVIEW_MAX_BYTES",
    "BundleError",
    "Linker",
    "build_bundle",
    "build_manifest",
    "check_slug",
    "content_type",
    "french_date",
    "french_datetime",
    "kind_of",
    "make_pack",
    "make_preview",
    "manifest_entry",
    "read_bundle_files",
    "rebuild_manifest",
    "relative_linker",
    "render_page",
    "render_pages",
    "validate_compliance",
    "write_manifest",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
COMPLIANCE = "compliance.json"
MANIFEST_SCHEMA = "matinale.manifest/1"
COMPLIANCE_SCHEMA = "matinale.compliance/1"
CHANNEL_LABELS = {
    "x": "X (Twitter)",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "sms": "SMS",
    "email": "E-mail",
}
#: Channels activists share themselves (SMS and e-mail are sent by the campaign's own tool).
ACTIVIST_CHANNELS = ("whatsapp", "facebook", "x", "instagram")
#: The card format that suits each channel best when sharing with the image.
CHANNEL_FORMAT = {"whatsapp": "square", "instagram": "square", "facebook": "landscape", "x": "landscape"}
FORMAT_LABELS = {"square": "carré", "landscape": "paysage", "story": "story (vertical)"}
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre")
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# A fixed timestamp for pack members: the same inputs give the same bytes, whenever built.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
PARIS = ZoneInfo("Europe/Paris")

#: Turns a path relative to the run (``65plus-p01/cards/x.jpg``) into a link a page can use.
Linker = Callable[[str], str]


class BundleError(RuntimeError):
    """The bundle cannot be built: the message names the segment and file."""


def french_date(day: date) -> str:
    """``mardi 24 novembre 2026``."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def french_datetime(instant: datetime, zone: ZoneInfo) -> str:
    """``mardi 24 novembre 2026 à 05 h 12`` in ``zone`` (the campaign's, Paris)."""
    local = instant.astimezone(zone)
    return f"{french_date(local.date())} à {local:%H}\u00a0h\u00a0{local:%M}"


def check_slug(value: str, what: str = "segment id") -> str:
    """Return ``value`` if it is a slug: ids become folder names, so no traversal."""
    if not isinstance(value, str) or not _SLUG.match(value):
        raise BundleError(f"{what} {value!r} is not a slug (a-z, 0-9, '-'): it would be unsafe as a folder name")
    return value


def content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith(".md"):
        return "text/markdown; charset=utf-8"
    if path.endswith(".html"):
        return "text/html; charset=utf-8"
    if path.endswith(".txt"):
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def kind_of(path: str) -> str:
    """What a bundle file is: ``overview``, ``page``, ``posts``, ``card``, ``preview``…"""
    parts = path.split("/")
    if path == "index.html":
        return "overview"
    if len(parts) == 3 and parts[1] == "cards":
        return "card"
    if len(parts) == 3 and parts[1] == "previews":
        return "preview"
    return {
        "index.html": "page",
        "posts.json": "posts",
        "posts.md": "posts",
        "cards.json": "cards",
        "pack.zip": "pack",
        "compliance.json": "compliance",
    }.get(parts[-1], "other")


def manifest_entry(path: str, data: bytes, *, digest_of: Callable[[bytes], str] | None = None, **extra: Any) -> dict[str, Any]:
    segment = path.split("/", 1)[0] if "/" in path else None
    return {
        "path": path,
        "sha256": digest_of(data) if digest_of else hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "content_type": content_type(path),
        "segment": segment,
        "kind": kind_of(path),
        **extra,
    }


# --- previews and packs -----------------------------------------------------------------


def make_preview(data: bytes, *, max_side: int = PREVIEW_MAX_SIDE, max_bytes: int = PREVIEW_MAX_BYTES) -> tuple[bytes, tuple[int, int], tuple[int, int]]:
    """A reduced JPEG of an encoded card: ``(bytes, preview size, full size)``.

    The visuals stage makes previews from the drawn pixels (``visuals.preview_jpeg``); this
    is for a card that arrives without one (a run drawn by an older version).
    """
    from PIL import Image

    from matinale.visuals import CardError, preview_jpeg

    with Image.open(io.BytesIO(data)) as image:
        full = image.size
        decoded = image.convert("RGB")
    try:
        preview, size = preview_jpeg(decoded, max_side=max_side, max_bytes=max_bytes)
    except CardError as exc:
        raise BundleError(str(exc)) from None
    return preview, size, full


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height from an image's header (nothing decoded)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _shown_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The card each theme's section previews: the theme's :func:`preview_format`."""
    by_theme: dict[str, dict[str, dict[str, Any]]] = {}
    for card in cards:
        by_theme.setdefault(str(card.get("theme")), {})[str(card.get("format", ""))] = card
    return [formats[preview_format(list(formats)) or ""] for formats in by_theme.values()]


def make_pack(members: Mapping[str, bytes]) -> bytes:
    """A byte-reproducible zip: sorted members, fixed timestamps and modes, safe names.

    JPEGs are stored (already compressed); text is deflated at a fixed level.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            if not safe_member_name(name):
                raise BundleError(f"pack member {name!r} is not a safe relative name (zip-slip): fix the file name")
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED if name.endswith((".jpg", ".jpeg", ".png", ".webp")) else zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name], compresslevel=9 if info.compress_type == zipfile.ZIP_DEFLATED else None)
    return buffer.getvalue()


def _posts_markdown(segment: Mapping[str, Any], posts: list[dict[str, Any]], themes: list[dict[str, Any]], edition: date) -> str:
    """A readable version of posts.json, when the content stage did not write one."""
    lines = [f"# {segment.get('label', segment['id'])} – édition du {french_date(edition)}", ""]
    for theme in themes:
        lines += [f"## {theme['title']}", ""]
        for post in posts:
            if post.get("theme") == theme["id"]:
                label = CHANNEL_LABELS.get(post.get("channel", ""), post.get("channel", ""))
                lines += [f"### {label} – version {post.get('variant', 1)}", "", str(post.get("text", "")), ""]
    return "\n".join(lines)


def _alt_texts(cards: list[dict[str, Any]]) -> str:
    """Alt texts as plain French text for the pack (``textes-alternatifs.txt``)."""
    lines = ["Textes alternatifs des visuels (à coller dans le champ « texte alternatif » du réseau social)", ""]
    for card in cards:
        lines += [card["file"].rsplit("/", 1)[-1], str(card.get("alt", "")), ""]
    return "\n".join(lines)


# --- pages ------------------------------------------------------------------------------


@cache
def _pages_env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _inline_assets() -> dict[str, str]:
    """The page's CSS and JS, and their CSP hashes (no 'unsafe-inline', nothing external)."""
    folder = Path(__file__).parent / "templates"
    assets = {}
    for name in ("page.css", "page.js"):
        text = (folder / name).read_text(encoding="utf-8")
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        assets[name.replace(".", "_")] = text
        assets[name.replace(".", "_") + "_hash"] = f"'sha256-{digest}'"
    return assets


def render_page(template: str, **context: Any) -> bytes:
    return _pages_env().get_template(template).render(**_inline_assets(), **context).encode("utf-8")


def relative_linker(page_dir: str) -> Linker:
    """Links relative to a page's folder: what works from a downloaded copy."""
    return lambda path: posixpath.relpath(path, page_dir or ".")


def _size_label(size: int) -> str:
    return f"{size / 1e6:.1f} Mo".replace(".", ",") if size >= 1e6 else f"{max(1, round(size / 1e3))} Ko"


def _segment_page_model(
    segment: Mapping[str, Any],
    posts: list[dict[str, Any]],
    cards: list[dict[str, Any]],
    themes: list[dict[str, Any]],
    entries: Mapping[str, Mapping[str, Any]],
    previews: Mapping[str, bytes],
    link: Linker,
) -> dict[str, Any]:
    """Everything the activist page shows, grouped by theme; links made by ``link``."""
    segment_id = segment["id"]
    sections = []
    for theme in themes:
        theme_cards = sorted(
            (c for c in cards if c.get("theme") == theme["id"]),
            key=lambda c: (FORMAT_ORDER.index(c.get("format")) if c.get("format") in FORMAT_ORDER else len(FORMAT_ORDER), c["file"]),
        )
        downloads = []
        by_format: dict[str, str] = {}
        for card in theme_cards:
            path = f"{segment_id}/{card['file']}"
            entry = entries.get(path, {})
            fmt = str(card.get("format", ""))
            href = link(path)
            by_format.setdefault(fmt, href)
            size = f"{entry['width']}×{entry['height']}" if "width" in entry else ""
            downloads.append(
                {"href": href, "format": FORMAT_LABELS.get(fmt, fmt), "size": size, "weight": _size_label(int(entry.get("bytes", 0))), "file": card["file"].rsplit("/", 1)[-1]}
            )
        preview = None
        if theme_cards:
            shown = theme_cards[0]
            name = shown["file"].rsplit("/", 1)[-1]
            data = previews.get(f"{segment_id}/previews/{name}")
            if data is not None:
                entry = entries.get(f"{segment_id}/previews/{name}", {})
                preview = {
                    "src": "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"),
                    "alt": str(shown.get("alt", "")),
                    "width": entry.get("width", PREVIEW_MAX_SIDE),
                    "height": entry.get("height", PREVIEW_MAX_SIDE),
                    "id": f"apercu-{theme['id']}",
                }
        blocks = []
        for channel in ACTIVIST_CHANNELS:
            variants = sorted((p for p in posts if p.get("theme") == theme["id"] and p.get("channel") == channel), key=lambda p: p.get("variant", 1))
            if not variants:
                continue
            image = by_format.get(CHANNEL_FORMAT.get(channel, ""), next(iter(by_format.values()), ""))
            blocks.append(
                {
                    "id": f"{theme['id']}-{channel}",
                    "channel": channel,
                    "label": CHANNEL_LABELS.get(channel, channel),
                    "image": image,
                    "variants": [{"text": str(p.get("text", "")), "link": str(p.get("link", "")), "number": p.get("variant", i + 1)} for i, p in enumerate(variants)],
                }
            )
        sections.append({"theme": theme, "preview": preview, "downloads": downloads, "blocks": blocks})
    return {"segment": dict(segment), "sections": sections, "pack": link(f"{segment_id}/pack.zip")}


def render_pages(
    files: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    *,
    campaign: Any,
    zone: ZoneInfo,
    published_at: datetime,
    linker: Callable[[str], Linker],
) -> dict[str, bytes]:
    """Every page of the bundle (segment pages and the overview) from its other files.

    ``linker(page_dir)`` gives the Linker for pages in ``page_dir`` (``""`` for the overview):
    relative links at build time, presigned links at publish time.
    """
    entries = {e["path"]: e for e in manifest["files"]}
    themes = list(manifest["themes"])
    campaign_data = asdict(campaign) if hasattr(campaign, "__dataclass_fields__") else dict(campaign)
    edition = date.fromisoformat(manifest["edition"])
    common = {
        "campaign": campaign_data,
        "edition_label": french_date(edition),
        "published_label": french_datetime(published_at, zone),
        "zone_label": "heure de Paris" if zone.key == "Europe/Paris" else f"heure de {zone.key}",
        "themes": themes,
        "format_labels": FORMAT_LABELS,
    }
    pages: dict[str, bytes] = {}
    rows = []
    previews_by_segment: dict[str, dict[str, bytes]] = {}
    for path, data in files.items():
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "previews":
            previews_by_segment.setdefault(parts[0], {})[path] = data
    for segment in manifest["segments"]:
        segment_id = segment["id"]
        posts = json.loads(files[f"{segment_id}/posts.json"])["posts"]
        cards = json.loads(files[f"{segment_id}/cards.json"])["cards"]
        previews = previews_by_segment.get(segment_id, {})
        model = _segment_page_model(segment, posts, cards, themes, entries, previews, linker(segment_id))
        pages[f"{segment_id}/index.html"] = render_page("segment.html.j2", **model, **common)
        shared = [p for p in posts if p.get("channel") in ACTIVIST_CHANNELS]
        rows.append({**segment, "posts": len(shared), "direct": len(posts) - len(shared), "cards": len(cards), "href": linker("")(f"{segment_id}/index.html")})
    top = linker("")
    pages["index.html"] = render_page(
        "overview.html.j2",
        segments=rows,
        compliance=top(COMPLIANCE),
        manifest_href=top(MANIFEST),
        run=manifest["run"],
        **common,
    )
    return pages


# --- manifest ---------------------------------------------------------------------------


def _card_details(files: Mapping[str, bytes]) -> dict[str, dict[str, str]]:
    """Theme, format and alt text of every full-size card, from its segment's cards.json."""
    details: dict[str, dict[str, str]] = {}
    for path, data in files.items():
        if kind_of(path) != "cards":
            continue
        segment = path.split("/", 1)[0]
        for card in json.loads(data).get("cards", []):
            details[f"{segment}/{card['file']}"] = {key: str(card[key]) for key in ("theme", "format", "alt") if card.get(key)}
    return details


def build_manifest(
    files: Mapping[str, bytes], meta: Mapping[str, Any], image_sizes: Mapping[str, tuple[int, int]], *, digest_of: Callable[[bytes], str] | None = None
) -> dict[str, Any]:
    """The manifest: ``meta`` plus one entry per file (sorted), images with their size, cards
    with their theme, format and alt text (read from cards.json, so a rebuild keeps them)."""
    cards = _card_details(files)
    entries = []
    for path in sorted(files):
        extra: dict[str, Any] = dict(cards.get(path, {}))
        if path in image_sizes:
            extra.update(width=image_sizes[path][0], height=image_sizes[path][1])
        entries.append(manifest_entry(path, files[path], digest_of=digest_of, **extra))
    return {**meta, "files": entries}


def write_manifest(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def read_bundle_files(store: Store, prefix: str) -> dict[str, bytes]:
    """Every file of a built bundle (paths relative to ``prefix``), the manifest excluded."""
    files = {}
    for key in store.list(prefix):
        relative = key[len(prefix) + 1 :]
        if relative != MANIFEST:
            files[relative] = store.get_bytes(key)
    return files


def _image_sizes(manifest: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    return {e["path"]: (e["width"], e["height"]) for e in manifest.get("files", []) if "width" in e}


def _template_checksums() -> dict[str, str]:
    folder = Path(__file__).parent / "templates"
    return {f"page_templates/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _read_segment(store: Store, prefix: str, segment_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = f"{prefix}/{segment_id}"
    try:
        posts = json.loads(store.get_bytes(f"{base}/posts.json"))["posts"]
        cards = json.loads(store.get_bytes(f"{base}/cards.json"))["cards"]
    except (KeyError, json.JSONDecodeError) as exc:
        raise BundleError(f"segment {segment_id}: posts.json or cards.json is malformed ({exc}); rerun content and visuals") from exc
    for index, card in enumerate(cards):
        name = card.get("file") if isinstance(card, dict) else None
        if not isinstance(name, str) or not name.startswith("cards/") or not safe_member_name(name) or name.count("/") != 1:
            raise BundleError(f"segment {segment_id}: cards.json cards[{index}].file = {str(name)[:60]!r} must be cards/<name> with a safe name")
    return posts, cards


@dataclass(frozen=True)
class _Segment:
    id: str
    label: str
    size: int
    kind: str = "main"


def build_bundle(
    store: Store,
    prefix: str,
    *,
    edition: date,
    run: str,
    segments: list[dict[str, Any]],
    brief: Any,
    campaign: Any,
    inputs: Mapping[str, str],
    compliance: Mapping[str, Any],
    zone: ZoneInfo = PARIS,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """Write previews, packs, pages, compliance.json and the manifest under ``prefix``.

    ``prefix`` is the run's ``bundle/`` folder, where content and visuals left posts.json,
    cards.json and cards/ per segment. Every segment must have them: a partial edition must
    not replace a whole one.
    """
    generated_at = generated_at or datetime.now(UTC)
    themes = [{"id": t.id, "title": t.title, "key_message": t.key_message} for t in brief.themes]
    wanted = [
        _Segment(check_slug(s["id"]), str(s.get("label", s["id"])), int(s.get("size") or 0), "territory" if s.get("kind") == "territory" else "main")
        for s in segments
    ]
    missing = [s.id for s in wanted if not (store.exists(f"{prefix}/{s.id}/posts.json") and store.exists(f"{prefix}/{s.id}/cards.json"))]
    if missing:
        raise BundleError(
            f"{len(missing)} of {len(wanted)} segments have no posts.json/cards.json ({', '.join(missing[:5])}…): "
            "a partial edition cannot be published as a whole; rerun content and visuals for every segment"
        )
    if not wanted:
        raise BundleError("no segment to bundle: segmentation produced none; see the segment task's report")

    image_sizes: dict[str, tuple[int, int]] = {}
    for segment in wanted:
        base = f"{prefix}/{segment.id}"
        posts, cards = _read_segment(store, prefix, segment.id)
        members = {"posts.json": store.get_bytes(f"{base}/posts.json"), "cards.json": store.get_bytes(f"{base}/cards.json")}
        if not store.exists(f"{base}/posts.md"):
            store.put_bytes(f"{base}/posts.md", _posts_markdown(asdict(segment), posts, themes, edition).encode("utf-8"))
        members["posts.md"] = store.get_bytes(f"{base}/posts.md")
        for card in cards:
            data = store.get_bytes(f"{base}/{card['file']}")
            members[card["file"]] = data
            width, height = card.get("width"), card.get("height")
            full = (width, height) if isinstance(width, int) and isinstance(height, int) else _image_size(data)
            image_sizes[f"{segment.id}/{card['file']}"] = full
        for card in _shown_cards(cards):
            name = card["file"].rsplit("/", 1)[-1]
            key = f"{base}/previews/{name}"
            if store.exists(key):  # drawn with the card by the visuals stage
                small = _image_size(store.get_bytes(key))
            else:
                preview, small, _ = make_preview(members[card["file"]])
                store.put_bytes(key, preview)
            image_sizes[f"{segment.id}/previews/{name}"] = small
        members["textes-alternatifs.txt"] = _alt_texts(cards).encode("utf-8")
        store.put_bytes(f"{base}/pack.zip", make_pack({f"{segment.id}/{name}": data for name, data in members.items()}))

    store.put_bytes(
        f"{prefix}/{COMPLIANCE}",
        write_manifest({"schema": COMPLIANCE_SCHEMA, "edition": edition.isoformat(), "run": run, **compliance, "checks": {"stage": "pending", "passed": False, "checks": {}}}),
    )
    meta = {
        "schema": MANIFEST_SCHEMA,
        "edition": edition.isoformat(),
        "run": run,
        "campaign": campaign.slug,
        "generated_at": generated_at.astimezone(UTC).isoformat(timespec="seconds"),
        "published_at": None,
        "themes": themes,
        "segments": [{"id": s.id, "label": s.label, "size": s.size, "kind": s.kind, "page": f"{s.id}/index.html"} for s in wanted],
        "inputs": {**inputs, **_template_checksums()},
    }
    files = read_bundle_files(store, prefix)
    pages = render_pages(files, build_manifest(files, meta, image_sizes), campaign=campaign, zone=zone, published_at=generated_at, linker=relative_linker)
    for path, data in pages.items():
        store.put_bytes(f"{prefix}/{path}", data)
    files.update(pages)
    manifest = build_manifest(files, meta, image_sizes)
    _validate(manifest, "manifest")
    store.put_bytes(f"{prefix}/{MANIFEST}", write_manifest(manifest))
    page_bytes = [len(pages[f"{s.id}/index.html"]) for s in wanted]
    return {"files": len(files) + 1, "bytes": sum(len(d) for d in files.values()), "segments": len(wanted), "page_bytes_max": max(page_bytes)}


def _validate(document: Mapping[str, Any], schema: str) -> None:
    problems = schema_problems(document, schema)  # validator built once; manifest entries validated once
    if problems:
        where, message = problems[0]
        raise BundleError(f"{schema}.json does not match its schema at {where}: {message[:200]}")


def rebuild_manifest(manifest: Mapping[str, Any], files: Mapping[str, bytes], *, digest_of: Callable[[bytes], str] | None = None, **meta: Any) -> dict[str, Any]:
    """The manifest for a changed set of files (pages re-rendered, compliance completed).

    ``digest_of`` (a ``checks.Sha256s``) reuses the digests of objects hashed before.
    """
    base = {k: v for k, v in manifest.items() if k != "files"}
    base.update(meta)
    rebuilt = build_manifest(files, base, _image_sizes(manifest), digest_of=digest_of)
    _validate(rebuilt, "manifest")
    return rebuilt


def validate_compliance(document: Mapping[str, Any]) -> None:
    _validate(document, "compliance")
