"""WCAG 2.1 contrast: every text layer, the logo text and the QR code against what lies under them.

Text must reach 4.5:1 (3:1 for large text, judged at the smallest size it may shrink to, as
pages show the card) against every pixel of its box on the static layers; QR modules must be
darker than their ground, by 4.5:1.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from matinale.visuals.draw import _draw_static
from matinale.visuals.errors import BrandError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from matinale.visuals.kit import CardKit, Layer, Layout

__all__ = ["contrast_ratio", "relative_luminance"]


# WCAG 2.1 thresholds (success criterion 1.4.3) and its definition of large text, in CSS px.
_AA_NORMAL = 4.5
_AA_LARGE = 3.0
_LARGE_PX = 24.0
_LARGE_BOLD_PX = 18.66


def _linear(value: int) -> float:
    """An sRGB channel (0–255) made linear, as WCAG 2.1 defines it."""
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


@cache
def _linear_table() -> np.ndarray:
    """The 256 linear channel values, to convert whole images at once."""
    import numpy as np

    return np.array([_linear(v) for v in range(256)])


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour."""
    return 0.2126 * _linear(rgb[0]) + 0.7152 * _linear(rgb[1]) + 0.0722 * _linear(rgb[2])


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2.1 contrast ratio, from 1 (same) to 21 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _worst_contrast(
    region: Image.Image, rgb: tuple[int, int, int]
) -> tuple[float, tuple[int, int, int]]:
    """Lowest contrast of ``rgb`` against any pixel of ``region`` (flat bands or an image)."""
    import numpy as np

    region = region.convert("RGB")
    colours = region.getcolors(maxcolors=4096)
    if colours is not None:  # flat grounds: a handful of colours
        flat = [(int(c[0]), int(c[1]), int(c[2])) for _, c in colours]  # type: ignore[index]
        return min((contrast_ratio(rgb, colour), colour) for colour in flat)
    pixels = np.asarray(region).reshape(-1, 3)
    lum = _linear_table()[pixels] @ np.array([0.2126, 0.7152, 0.0722])
    text = relative_luminance(rgb)
    ratios = (np.maximum(lum, text) + 0.05) / (np.minimum(lum, text) + 0.05)
    worst = int(np.argmin(ratios))
    return float(ratios[worst]), (
        int(pixels[worst][0]),
        int(pixels[worst][1]),
        int(pixels[worst][2]),
    )


def _is_large(layer: Layer, layout: Layout, weight: int) -> bool:
    """WCAG large text, judged at the smallest size the text may shrink to, as pages show it."""
    css_px = layer.min_size * layout.scale
    return css_px >= _LARGE_PX or (weight >= 700 and css_px >= _LARGE_BOLD_PX)


def _check_contrast(kit: CardKit) -> None:
    problems = []
    for layout in kit.layouts.values():
        kit.base(layout.name)  # draws the logo: a logo text that cannot fit fails here
        ground = _draw_static(kit, layout, logo=False)
        for index, layer in enumerate(layout.layers):
            if layer.type == "text" or (layer.type == "logo" and kit.brand.logo_image is None):
                weight = kit.brand.fonts[layer.font].weight
                needed = _AA_LARGE if _is_large(layer, layout, weight) else _AA_NORMAL
                ratio, under = _worst_contrast(
                    ground.crop(layer.box), kit.brand.colors[layer.color]
                )
                what = layer.field or "logo"
            elif layer.type == "qr":
                # Scanners need dark modules on a light ground; WCAG's 4.5:1 is a sound floor.
                needed = _AA_NORMAL
                dark, light = kit.brand.colors[layer.color], kit.brand.colors[layer.background]
                ratio, under = contrast_ratio(dark, light), light
                what = "QR code"
                if relative_luminance(dark) > relative_luminance(light):
                    problems.append(
                        f"cards/{layout.name}.yaml layers[{index}] (QR code): modules must be darker than their background"
                    )
            else:
                continue
            if ratio < needed:
                problems.append(
                    f"cards/{layout.name}.yaml layers[{index}] ({what}): colour {layer.color!r} on "
                    f"#{under[0]:02X}{under[1]:02X}{under[2]:02X} has contrast {ratio:.2f}:1, "
                    f"WCAG 2.1 AA needs {needed}:1"
                )
    if problems:
        raise BrandError(
            f"{kit.templates_dir / 'brand.yaml'}: the brand kit fails the contrast check; change the colours in "
            "brand.yaml or the layers' colours:\n- " + "\n- ".join(problems)
        )
