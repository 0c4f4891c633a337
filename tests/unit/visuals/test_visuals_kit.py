"""Brand kit and layout validation: broken layouts and missing fonts are clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from visuals_samples import (
    kit_copy,
)

from matinale.visuals import (
    BrandError,
    load_kit,
)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda raw: raw["layers"].append(
                {
                    "type": "text",
                    "field": "body",
                    "box": [60, 240, 500, 400],
                    "font": "body",
                    "size": 30,
                    "min_size": 20,
                    "color": "text",
                }
            ),
            "overlap",
        ),
        (
            lambda raw: raw["layers"].__setitem__(1, {**raw["layers"][1], "color": "magenta"}),
            "colour 'magenta'",
        ),
        (
            lambda raw: raw["layers"].__setitem__(
                1, {**raw["layers"][1], "box": [0, 0, 1200, 140]}
            ),
            "inside the 1080×1080 canvas",
        ),
        (
            lambda raw: raw.__setitem__(
                "layers", [layer for layer in raw["layers"] if layer.get("field") != "footer"]
            ),
            "legal mention",
        ),
        (lambda raw: raw["layers"].append({"type": "sticker"}), "'type' must be one of"),
    ],
)
def test_a_broken_layout_is_a_clear_error(tmp_path: Path, change: Any, expected: str) -> None:
    def apply(raw: dict[str, Any]) -> dict[str, Any]:
        change(raw)
        return raw

    templates = kit_copy(
        tmp_path, brand={"cards": {"formats": ["square"]}}, layouts={"square": apply}
    )
    with pytest.raises(BrandError, match=expected) as caught:
        load_kit(templates)
    assert "square.yaml" in str(caught.value)


def test_a_missing_font_is_a_clear_error(tmp_path: Path) -> None:
    templates = kit_copy(
        tmp_path, brand={"fonts": {"body": {"file": "fonts/Arial.ttf", "weight": 400}}}
    )
    with pytest.raises(BrandError, match="fonts.body.*Arial.ttf.*not found"):
        load_kit(templates)
