"""WCAG contrast checks of the brand kit: text, large text, background images, QR colours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from visuals_samples import (
    TEMPLATES,
    kit_copy,
)

from matinale.visuals import (
    BrandError,
    contrast_ratio,
    load_kit,
)


def test_contrast_ratio_follows_wcag() -> None:
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    assert contrast_ratio((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio((0x77, 0x77, 0x77), (255, 255, 255)) < 4.5


def test_the_shipped_brand_passes_its_contrast_check() -> None:
    kit = load_kit(TEMPLATES)
    assert set(kit.layouts) == {"square", "landscape", "story"}


def test_body_text_below_4_5_to_1_is_a_clear_error(tmp_path: Path) -> None:
    templates = kit_copy(tmp_path, brand={"colors": {"text": "#8A8A8A"}})  # 3.4:1 on white
    with pytest.raises(BrandError) as caught:
        load_kit(templates)
    message = str(caught.value)
    assert "contrast" in message and "4.5:1" in message and "'text'" in message
    assert "cards/square.yaml layers[" in message and "(body)" in message


def test_large_text_needs_3_to_1_and_small_text_4_5(tmp_path: Path) -> None:
    grey = "#858585"  # 3.7:1 on white: enough for large text only

    def large_headline(raw: dict[str, Any]) -> dict[str, Any]:
        raw["display_width"] = 1080  # shown at full size: a 44 px headline is large text
        for layer in raw["layers"]:
            if layer.get("field") == "headline":
                layer["color"] = "grey"
        return raw

    passes = kit_copy(
        tmp_path / "a",
        brand={"colors": {"grey": grey}, "cards": {"formats": ["square"]}},
        layouts={"square": large_headline},
    )
    load_kit(passes)

    def small_headline(raw: dict[str, Any]) -> dict[str, Any]:
        raw = large_headline(raw)
        raw["display_width"] = 360  # on a phone the same headline is small text
        return raw

    fails = kit_copy(
        tmp_path / "b",
        brand={"colors": {"grey": grey}, "cards": {"formats": ["square"]}},
        layouts={"square": small_headline},
    )
    with pytest.raises(BrandError, match="headline.*needs 4.5:1"):
        load_kit(fails)


def test_text_over_a_background_image_is_checked_pixel_by_pixel(tmp_path: Path) -> None:
    templates = kit_copy(tmp_path, brand={"cards": {"formats": ["square"]}})
    photo = (
        Image.linear_gradient("L").resize((1080, 1080)).convert("RGB")
    )  # white to black, top to bottom
    photo.save(templates / "photo.png")

    def with_photo(raw: dict[str, Any]) -> dict[str, Any]:
        raw["layers"][0] = {"type": "background", "image": "photo.png"}
        return raw

    (templates / "cards" / "square.yaml").write_text(
        yaml.safe_dump(
            with_photo(
                yaml.safe_load((TEMPLATES / "cards" / "square.yaml").read_text(encoding="utf-8"))
            )
        ),
        encoding="utf-8",
    )
    with pytest.raises(BrandError, match="body"):
        load_kit(templates)


def test_qr_colours_are_checked(tmp_path: Path) -> None:
    templates = kit_copy(
        tmp_path,
        brand={
            "colors": {"text": "#FFFFFF", "background": "#14213D"},
            "cards": {"formats": ["square"]},
        },
    )
    with pytest.raises(BrandError, match="QR code"):
        load_kit(templates)
