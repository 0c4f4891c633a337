"""Shared inputs of the visuals tests: the shipped kit, sample card fields, kit copies."""

from __future__ import annotations

import io
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from matinale.content import opaque_content, tracked_link

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "content_templates"
EDITION = date(2026, 11, 24)
COMMUNE = "Saint-Remy-en-Bouzemont-Saint-Genest-et-Isson"
LINK = tracked_link(
    "https://ensemble-demain.example.org/sante",
    channel="card",
    edition=EDITION,
    content=opaque_content("65plus-p03"),
)
FIELDS = {
    "tagline": "Voter, c'est un devoir civique : transmettons une France solidaire.",
    "headline": f"Un médecin pour chacun à {COMMUNE}",
    "body": "Ouvrir 500 maisons de santé là où l'on attend des mois pour un rendez-vous ! Où ? Près de chez vous.",
    "cta": "Venez à la réunion publique de votre ville",
    "link": LINK,
    "footer": "Ensemble Demain – campagne de Camille Durand.",
}
SIZES = {"square": (1080, 1080), "landscape": (1200, 675), "story": (1080, 1920)}


def kit_copy(
    tmp_path: Path, *, brand: dict[str, Any] | None = None, layouts: dict[str, Any] | None = None
) -> Path:
    """A copy of the shipped kit with some of brand.yaml / the layouts changed."""
    target = tmp_path / "content_templates"
    (target / "cards").mkdir(parents=True)
    shutil.copytree(TEMPLATES / "fonts", target / "fonts")
    raw_brand = yaml.safe_load((TEMPLATES / "brand.yaml").read_text(encoding="utf-8"))
    for key, value in (brand or {}).items():
        raw_brand[key] = (
            {**raw_brand[key], **value} if isinstance(value, dict) and key in raw_brand else value
        )
    (target / "brand.yaml").write_text(
        yaml.safe_dump(raw_brand, allow_unicode=True), encoding="utf-8"
    )
    for name in raw_brand["cards"]["formats"]:
        raw = yaml.safe_load((TEMPLATES / "cards" / f"{name}.yaml").read_text(encoding="utf-8"))
        change = (layouts or {}).get(name)
        if change:
            raw = change(raw)
        (target / "cards" / f"{name}.yaml").write_text(
            yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8"
        )
    return target


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
