"""The card encoder's settings: read from brand.yaml, and the shipped ones meet the quality floor."""

from __future__ import annotations

from pathlib import Path

from visuals_samples import FIELDS, TEMPLATES, kit_copy, open_image

from matinale.dev.card_quality import BASELINE, SSIM_FLOOR, _pixels, sample_cards, ssim
from matinale.visuals import Encoder, encode_image, load_kit, render_card


def test_shipped_settings_keep_ssim_above_the_floor_with_fewer_bytes() -> None:
    """Protects issue 21 item 5: the shipped encoder settings (brand.yaml cards:) lose no
    more than SSIM 0.98 against a quality-90 baseline encode of the same rendered cards,
    and they do save bytes (a setting no smaller than the baseline would be pointless)."""
    shipped = load_kit(TEMPLATES).brand.encoder
    assert shipped != BASELINE
    cards = sample_cards(TEMPLATES, themes=1, lines=1)
    assert {image.size for _, image in cards} == {(1080, 1080), (1200, 675), (1080, 1920)}
    for name, image in cards:
        reference = encode_image(image, BASELINE)
        encoded = encode_image(image, shipped)
        score = ssim(_pixels(reference), _pixels(encoded))
        assert score >= SSIM_FLOOR, f"{name}: SSIM {score:.4f} with {shipped.describe()}"
        assert len(encoded) < 0.9 * len(reference), name


def test_brand_kit_settings_reach_the_encoder(tmp_path: Path) -> None:
    """Protects the one place the settings live: brand.yaml's progressive, optimize and
    subsampling change the file the night writes."""
    templates = kit_copy(
        tmp_path,
        brand={
            "cards": {"quality": 80, "subsampling": "4:4:4", "progressive": True, "optimize": True}
        },
    )
    kit = load_kit(templates)
    assert kit.brand.encoder == Encoder(
        encoding="jpeg", quality=80, subsampling="4:4:4", progressive=True, optimize=True
    )
    card = open_image(render_card(FIELDS, templates_dir=templates))
    assert card.info.get("progressive") == 1
    assert card.layer[0][1:3] == card.layer[1][1:3] == (1, 1)  # 4:4:4: chroma not subsampled
    plain = open_image(render_card(FIELDS, templates_dir=TEMPLATES))
    assert not plain.info.get("progressive")
    assert plain.layer[0][1:3] == (2, 2)  # the shipped 4:2:0
