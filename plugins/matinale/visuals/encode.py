"""Encoding a drawn card: the one place the output encoder's settings are applied.

The settings come from the brand kit (``content_templates/brand.yaml``, ``cards:``): the
encoding, its quality and, for JPEG, chroma subsampling, progressive scan and optimised
Huffman tables. They were chosen with ``python -m matinale.dev.card_quality``, which
measures bytes per card and SSIM against a quality-90 baseline encode of the same pixels.
The bytes depend on the pixels and these settings only: no EXIF, ICC profile or timestamp.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["SUBSAMPLINGS", "Encoder", "encode_image"]

#: JPEG chroma subsampling the brand kit may ask for.
SUBSAMPLINGS: tuple[str, ...] = ("4:2:0", "4:4:4")


@dataclass(frozen=True)
class Encoder:
    """How cards are encoded: format, quality and the JPEG encoder's options."""

    encoding: str = "jpeg"
    quality: int = 90
    subsampling: str = "4:2:0"
    progressive: bool = False
    optimize: bool = False

    def describe(self) -> str:
        """The settings in words, for reports (``jpeg q80 4:2:0 progressive optimised``)."""
        if self.encoding != "jpeg":
            return f"{self.encoding} q{self.quality}"
        parts = [f"jpeg q{self.quality}", self.subsampling]
        parts.append("progressive" if self.progressive else "baseline")
        if self.optimize:
            parts.append("optimised")
        return " ".join(parts)


def encode_image(image: Image.Image, encoder: Encoder) -> bytes:
    """``image`` encoded with ``encoder``'s settings (deterministic, no metadata)."""
    out = io.BytesIO()
    if encoder.encoding == "jpeg":
        image.save(
            out,
            format="JPEG",
            quality=encoder.quality,
            subsampling=encoder.subsampling,
            optimize=encoder.optimize,
            progressive=encoder.progressive,
        )
    elif encoder.encoding == "webp":
        image.save(out, format="WEBP", quality=encoder.quality, method=0, exact=True)
    else:
        image.save(out, format="PNG", compress_level=6)
    return out.getvalue()
