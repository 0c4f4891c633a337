from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from matinale.visuals import CardError, load_layout, render_card

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "content_templates"
FIELDS = {
    "logo": "Ensemble Demain",
    "headline": "Un médecin pour chacun, à L’Haÿ-les-Roses comme à Brest",
    "body": "Ouvrir 500 maisons de santé dans les territoires où l'on attend des mois pour un rendez-vous.",
    "link": "https://ensemble-demain.example.org/sante?utm_source=matinale&utm_medium=card",
    "footer": "Ensemble Demain – campagne de Camille Durand.",
}


def test_square_card_is_a_1080_jpeg() -> None:
    data = render_card(FIELDS, layout=load_layout(TEMPLATES, "square"), templates_dir=TEMPLATES)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (1080, 1080)


def test_same_inputs_give_identical_bytes() -> None:
    layout = load_layout(TEMPLATES, "square")
    assert render_card(FIELDS, layout=layout, templates_dir=TEMPLATES) == render_card(FIELDS, layout=layout, templates_dir=TEMPLATES)


def test_text_that_cannot_fit_is_an_error() -> None:
    fields = {**FIELDS, "headline": "Démocratie " * 200}
    with pytest.raises(CardError, match="does not fit"):
        render_card(fields, layout=load_layout(TEMPLATES, "square"), templates_dir=TEMPLATES)
