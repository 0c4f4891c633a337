"""The pages: each segment's activist page and the overview, rendered from the bundle's files.

Pages are rendered twice from the same data: here with relative links (a downloaded copy
works from disk, offline) and again at publish time with presigned links, because relative
links do not survive presigned URLs (each object carries its own signature). Card previews
are reduced JPEGs inlined as data URIs, so a page is one request and stays readable offline;
full-size cards and the pack are links. Which channels a page shows, in which order, with
which card and share links, is the channel registry's (content_templates/channels.yaml).
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from matinale.bundle.common import (
    COMPLIANCE,
    FORMAT_LABELS,
    MANIFEST,
    PAGE_TEMPLATES,
    BundleError,
    Linker,
    french_date,
    french_datetime,
)
from matinale.content.channels import Channel, share_channels, social_channels
from matinale.visuals import FORMAT_ORDER, PREVIEW_MAX_SIDE

FIRST_CHANNEL = "whatsapp"

if TYPE_CHECKING:
    from matinale.settings import Campaign


#: The headings' font: a WOFF2 subset of Lato Bold (built by matinale.dev.page_font).
PAGE_FONT = (
    Path(__file__).resolve().parents[3] / "content_templates" / "fonts" / "Lato-Bold-page.woff2"
)
_QUOTED = re.compile(r'"([^"\n]*)"')


def typographic(text: object) -> str:
    """French typography for what the page itself says: ’ for ', « » for straight quotes."""
    value = _QUOTED.sub("«\u00a0\\1\u00a0»", str(text))
    return value.replace("'", "’")


@cache
def _pages_env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(PAGE_TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["typo"] = typographic
    return env


def _font_face() -> str:
    """The @font-face of the headings' font, inline (nothing fetched, works offline)."""
    if not PAGE_FONT.exists():  # a checkout without the font: the system stack takes over
        return ""
    data = base64.b64encode(PAGE_FONT.read_bytes()).decode("ascii")
    return (
        '@font-face{font-family:"Lato Matinale";font-weight:700;font-display:swap;'
        f'src:url(data:font/woff2;base64,{data}) format("woff2")}}'
    )


@cache
def _inline_assets() -> dict[str, str]:
    """The page's CSS (with its font) and JS, and their CSP hashes (no 'unsafe-inline')."""
    texts = {
        "page_css": _font_face() + (PAGE_TEMPLATES / "page.css").read_text(encoding="utf-8"),
        "page_js": (PAGE_TEMPLATES / "page.js").read_text(encoding="utf-8"),
    }
    assets = dict(texts)
    for name, text in texts.items():
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        assets[name + "_hash"] = f"'sha256-{digest}'"
    return assets


def _beacon_model(origin: str | None, edition: str, angle: str) -> dict[str, str] | None:
    """Where the page sends its beacons (``origin`` + ``/e``), or None: no beacon code path
    (no service, or posts.json names no angle: the service would drop every beacon)."""
    if not origin or not angle:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise BundleError(f"the link service's address {origin!r} is not an http(s) origin")
    return {
        "origin": f"{parts.scheme}://{parts.netloc}",
        "url": origin.rstrip("/") + "/e",
        "edition": edition,
        "angle": angle,
    }


def _channel_order(social: Sequence[Channel], learned: Sequence[str] = ()) -> list[Channel]:
    """The page's channels, first one on the first screen: the learned order when the night
    has one, WhatsApp first otherwise (where most activists share), then the registry's."""
    preference = [*learned, FIRST_CHANNEL]
    rank = {channel_id: i for i, channel_id in enumerate(dict.fromkeys(preference))}
    return sorted(social, key=lambda c: rank.get(c.id, len(rank)))


def starting_weights(variants: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """How likely a phone starts on each variant (page.js draws by them; "Autre version"
    follows them): its angle's learned weight (posts.json ``weight``) shared among the
    variants that make that angle, summing to 1; all None (even chances) when some variant
    has no weight (no learned.json) or they sum to nothing."""
    raw = [v.get("weight") for v in variants]
    numbers = [float(w) for w in raw if isinstance(w, int | float) and w >= 0]
    if not raw or len(numbers) != len(raw):
        return [None] * len(variants)
    per_angle = Counter(str(v.get("angle") or "") for v in variants)
    shared = [
        w / per_angle[str(v.get("angle") or "")] for v, w in zip(variants, numbers, strict=True)
    ]
    total = sum(shared)
    if total <= 0:
        return [None] * len(variants)
    return [f"{w / total:.4f}" for w in shared]


def render_page(template: str, **context: Any) -> bytes:
    return _pages_env().get_template(template).render(**_inline_assets(), **context).encode("utf-8")


def relative_linker(page_dir: str) -> Linker:
    """Links relative to a page's folder: what works from a downloaded copy."""
    return lambda path: posixpath.relpath(path, page_dir or ".")


def _share_model(channels: Sequence[Channel]) -> dict[str, Any]:
    """The share links a page offers when the phone cannot share, and how it announces them."""
    names = [channel.name for channel in channels]
    spoken = f"{', '.join(names[:-1])} ou {names[-1]}" if len(names) > 1 else "".join(names)
    return {
        "share_links": [{"channel": c.id, "name": c.name, "url": c.share_url} for c in channels],
        "share_prompt": f"Choisissez où partager : {spoken}." if names else "",
    }


def _size_label(size: int) -> str:
    return (
        f"{size / 1e6:.1f} Mo".replace(".", ",")
        if size >= 1e6
        else f"{max(1, round(size / 1e3))} Ko"
    )


def _segment_page_model(
    segment: Mapping[str, Any],
    posts: list[dict[str, Any]],
    cards: list[dict[str, Any]],
    themes: list[dict[str, Any]],
    entries: Mapping[str, Mapping[str, Any]],
    previews: Mapping[str, bytes],
    link: Linker,
    social: Sequence[Channel],
) -> dict[str, Any]:
    """Everything the activist page shows, grouped by theme; links made by ``link``."""
    segment_id = segment["id"]
    sections = []
    for theme in themes:
        theme_cards = sorted(
            (c for c in cards if c.get("theme") == theme["id"]),
            key=lambda c: (
                FORMAT_ORDER.index(c.get("format"))
                if c.get("format") in FORMAT_ORDER
                else len(FORMAT_ORDER),
                c["file"],
            ),
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
                {
                    "href": href,
                    "format": FORMAT_LABELS.get(fmt, fmt),
                    "size": size,
                    "weight": _size_label(int(entry.get("bytes", 0))),
                    "file": card["file"].rsplit("/", 1)[-1],
                }
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
        for channel in social:
            variants = sorted(
                (
                    p
                    for p in posts
                    if p.get("theme") == theme["id"] and p.get("channel") == channel.id
                ),
                key=lambda p: p.get("variant", 1),
            )
            if not variants:
                continue
            image = by_format.get(channel.card or "", next(iter(by_format.values()), ""))
            blocks.append(
                {
                    "id": f"{theme['id']}-{channel.id}",
                    "channel": channel.id,
                    "label": channel.label,
                    "image": image,
                    "variants": [
                        {
                            "text": str(p.get("text", "")),
                            "link": str(p.get("link", "")),
                            "number": p.get("variant", i + 1),
                            "angle": str(p.get("angle") or ""),
                            "weight": weight,
                        }
                        for i, (p, weight) in enumerate(
                            zip(variants, starting_weights(variants), strict=True)
                        )
                    ],
                }
            )
        sections.append(
            {"theme": theme, "preview": preview, "downloads": downloads, "blocks": blocks}
        )
    return {"segment": dict(segment), "sections": sections, "pack": link(f"{segment_id}/pack.zip")}


def render_pages(
    files: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    *,
    campaign: Campaign | Mapping[str, Any],
    zone: ZoneInfo,
    published_at: datetime,
    linker: Callable[[str], Linker],
    templates_dir: Path | None = None,
    beacon_origin: str | None = None,
) -> dict[str, bytes]:
    """Every page of the bundle (segment pages and the overview) from its other files.

    ``linker(page_dir)`` gives the Linker for pages in ``page_dir`` (``""`` for the overview):
    relative links at build time, presigned links at publish time. The channels shown, their
    order, cards and share links are those of ``templates_dir``'s channels.yaml (default:
    the project's). ``beacon_origin`` is the link service's public address: the pages send
    their ``copy``, ``share`` and ``variant_shown`` beacons there (``None``: no beacon at all,
    as in the bundle's own copy, read offline).
    """
    shown = social_channels(templates_dir)
    social = {channel.id for channel in shown}
    entries = {e["path"]: e for e in manifest["files"]}
    themes = list(manifest["themes"])
    campaign_data = dict(campaign) if isinstance(campaign, Mapping) else asdict(campaign)
    edition = date.fromisoformat(manifest["edition"])
    common = {
        "campaign": campaign_data,
        "edition_label": french_date(edition),
        "published_label": french_datetime(published_at, zone),
        "zone_label": "heure de Paris" if zone.key == "Europe/Paris" else f"heure de {zone.key}",
        "themes": themes,
        "format_labels": FORMAT_LABELS,
        **_share_model(share_channels(templates_dir)),
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
        data = json.loads(files[f"{segment_id}/posts.json"])
        posts = data["posts"]
        cards = json.loads(files[f"{segment_id}/cards.json"])["cards"]
        previews = previews_by_segment.get(segment_id, {})
        order = _channel_order(shown, data.get("channel_order", ()))
        model = _segment_page_model(
            segment, posts, cards, themes, entries, previews, linker(segment_id), order
        )
        # The beacon cell's angle is posts.json's, as the link tables register it.
        beacon = _beacon_model(beacon_origin, manifest["edition"], str(data.get("angle", "")))
        pages[f"{segment_id}/index.html"] = render_page(
            "segment.html.j2", **model, **common, beacon=beacon
        )
        shared = [p for p in posts if p.get("channel") in social]
        rows.append(
            {
                **segment,
                "posts": len(shared),
                "direct": len(posts) - len(shared),
                "cards": len(cards),
                "href": linker("")(f"{segment_id}/index.html"),
            }
        )
    from matinale.learn.report import overview_model as what_works_model
    from matinale.territories.page import overview_model

    top = linker("")
    pages["index.html"] = render_page(
        "overview.html.j2",
        segments=rows,
        compliance=top(COMPLIANCE),
        manifest_href=top(MANIFEST),
        run=manifest["run"],
        territories=overview_model(files),
        what_works=what_works_model(files),
        **common,
    )
    return pages
