"""A small but realistic bundle input (posts.json, cards.json, JPEG cards) for bundle tests.

Importable from any test because tests/conftest.py puts this folder on sys.path. The cards
are real JPEGs drawn with Pillow; the posts follow the content stage's contract.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from matinale.settings import Settings, load_settings
from matinale.store import Store

ROOT = Path(__file__).resolve().parents[1]
EDITION = date(2026, 11, 24)
CHANNELS = ("x", "facebook", "instagram", "whatsapp", "sms", "email")
FORMATS = {"square": (1080, 1080), "landscape": (1200, 675)}


@dataclass(frozen=True)
class SampleTheme:
    id: str
    title: str
    key_message: str
    link: str


@dataclass(frozen=True)
class SampleBrief:
    edition: date
    themes: tuple[SampleTheme, ...]


THEMES = (
    SampleTheme(
        "pouvoir-achat",
        "Pouvoir d'achat : des prix justes",
        "Bloquer les prix de l'énergie pour les ménages modestes.",
        "https://ensemble-demain.example.org/pouvoir-achat",
    ),
    SampleTheme(
        "sante",
        "Un médecin pour chacun",
        "Ouvrir 500 maisons de santé là où l'on attend des mois.",
        "https://ensemble-demain.example.org/sante",
    ),
)


def settings() -> Settings:
    return load_settings(ROOT / "campaign.yaml")


def brief() -> SampleBrief:
    return SampleBrief(edition=EDITION, themes=THEMES)


def card_jpeg(theme: str, fmt: str, segment: str) -> bytes:
    """A real card-like JPEG: brand band, a title block and a QR-like pattern."""
    from PIL import Image, ImageDraw

    width, height = FORMATS[fmt]
    image = Image.new("RGB", (width, height), "#FFFFFF")
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width, height // 7], fill="#1B3A6B")
    draw.rectangle([0, height - height // 7, width, height], fill="#F2B705")
    seed = sum(map(ord, theme + fmt + segment))
    for row in range(25):
        for col in range(25):
            if (row * 31 + col * 17 + seed) % 3 == 0:
                x, y = width - 260 + col * 8, height // 2 + row * 8
                draw.rectangle([x, y, x + 7, y + 7], fill="#14213D")
    draw.text((60, height // 5), f"{theme} – {segment}", fill="#14213D")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def post_text(theme: SampleTheme, channel: str, variant: int, segment: str) -> str:
    link = f"{theme.link}?utm_source=matinale&utm_medium={channel}&utm_campaign={EDITION}&utm_content={segment}-{variant}"
    openers = ("Ce matin", "Aujourd'hui", "On en parle")
    return f"{openers[(variant - 1) % 3]} : {theme.title}\n{theme.key_message}\n👉 {link} #EnsembleDemain"


def write_inputs(
    store: Store,
    prefix: str,
    segments: list[dict[str, Any]],
    *,
    variants: int = 2,
    formats: tuple[str, ...] = ("square", "landscape"),
    extra_text: str = "",
) -> None:
    """posts.json, cards.json and cards/ for every segment, as content and visuals leave them."""
    for segment in segments:
        seg = segment["id"]
        posts = []
        for theme in THEMES:
            for channel in CHANNELS:
                for variant in range(1, variants + 1):
                    text = post_text(theme, channel, variant, seg) + extra_text
                    link = f"{theme.link}?utm_source=matinale&utm_medium={channel}&utm_campaign={EDITION}&utm_content={seg}-{variant}"
                    posts.append(
                        {
                            "theme": theme.id,
                            "channel": channel,
                            "variant": variant,
                            "text": text,
                            "length": len(text),
                            "link": link,
                        }
                    )
        store.put_bytes(
            f"{prefix}/{seg}/posts.json",
            json.dumps(
                {"segment": seg, "edition": EDITION.isoformat(), "posts": posts}, ensure_ascii=False
            ).encode(),
        )
        cards = []
        for theme in THEMES:
            for fmt in formats:
                name = f"cards/{theme.id}-{fmt}.jpg"
                store.put_bytes(f"{prefix}/{seg}/{name}", card_jpeg(theme.id, fmt, seg))
                cards.append(
                    {
                        "file": name,
                        "theme": theme.id,
                        "format": fmt,
                        "alt": f"Visuel « {theme.title} » : {theme.key_message}",
                        "link": theme.link,
                    }
                )
        store.put_bytes(
            f"{prefix}/{seg}/cards.json",
            json.dumps({"segment": seg, "cards": cards}, ensure_ascii=False).encode(),
        )


SEGMENTS = [
    {"id": "65plus-p01", "label": "65 ans et plus · santé", "size": 1230, "band": "65plus"},
    {"id": "18-24-p02", "label": "18–24 ans · climat", "size": 410, "band": "18-24"},
]

COMPLIANCE = {
    "ingest": {
        "rows_read": 3000,
        "quarantined": 12,
        "suppressed": 4,
        "duplicates_merged": 3,
        "valid": 2981,
    },
    "adults": 2950,
    "minors_excluded": 31,
    "consent_by_channel": {"email": 2100, "sms": 900},
    "legal_basis": {"consent": 2500, "membership": 481},
}


def build(
    store: Store,
    prefix: str = "run/bundle",
    *,
    segments: list[dict[str, Any]] | None = None,
    write: bool = True,
    packs: str = "stored",
    **inputs: Any,
) -> dict[str, Any]:
    """Write inputs (unless ``write`` is false) and build the bundle with the real build_bundle
    (``packs``: stored, or served by a link service)."""
    from matinale.bundle import build_bundle
    from matinale.segment import Segment

    segments = segments or SEGMENTS
    if write:
        write_inputs(store, prefix, segments, **inputs)
    return build_bundle(
        store,
        prefix,
        edition=EDITION,
        run="20261124T000000Z-abcd",
        segments=[Segment.from_json(s) for s in segments],
        brief=brief(),
        campaign=settings().campaign,
        inputs={"campaign.yaml": "0" * 64, "code_version": "test"},
        compliance=COMPLIANCE,
        packs=packs,
    )


def render_sample_pages(
    store: Store, prefix: str, *, beacon_origin: str | None
) -> dict[str, bytes]:
    """The activist pages of the bundle :func:`build` wrote under ``prefix``, rendered as
    publish renders them (relative links, the sample campaign, a fixed publication time)."""
    from datetime import UTC, datetime

    from matinale.bundle import read_bundle_files, render_pages
    from matinale.bundle.page import relative_linker

    s = settings()
    return render_pages(
        read_bundle_files(store, prefix),
        store.get_json(f"{prefix}/manifest.json"),
        campaign=s.campaign,
        zone=s.clocks.campaign_tz,
        published_at=datetime(2026, 11, 24, 4, 12, tzinfo=UTC),
        linker=relative_linker,
        beacon_origin=beacon_origin,
    )
