"""Card encoder settings against a quality floor: ``python -m matinale.dev.card_quality``.

Draws sample cards with the shipped brand kit and the sample brief (every format, a few
themes and framing lines), encodes each card's pixels with every candidate setting (JPEG
quality, chroma subsampling, progressive scan, optimised Huffman tables), and compares each
decode with a quality-90 baseline encode of the same pixels (4:2:0, baseline scan, the
encoder's default tables) by SSIM (``skimage.metrics.structural_similarity``, colour). It
prints bytes per card (per format), the SSIM and which setting is the smallest that keeps
SSIM ≥ :data:`SSIM_FLOOR` on every card. The chosen setting lives in ``brand.yaml``
(``cards:``); ``tests/unit/visuals/test_visuals_encode.py`` holds it to the floor.

Local only (scikit-image is a dev extra): never imported by the night.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from matinale.visuals.encode import Encoder, encode_image

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = [
    "BASELINE",
    "SSIM_FLOOR",
    "Measure",
    "candidates",
    "main",
    "measure",
    "sample_cards",
    "ssim",
]

#: The quality floor: every sample card's SSIM against the baseline encode.
SSIM_FLOOR = 0.98
#: The reference the floor is measured against: quality 90, 4:2:0, baseline scan.
BASELINE = Encoder(encoding="jpeg", quality=90, subsampling="4:2:0")

_ROOT = Path(__file__).resolve().parents[3]
_SHORT_LINK = "https://liens.ensemble-demain.example.org/s/k7mQ2xV9"


def sample_cards(
    templates_dir: Path | None = None, *, themes: int = 2, lines: int = 2
) -> list[tuple[str, Image.Image]]:
    """Drawn (not encoded) cards: ``themes`` themes × ``lines`` framing lines × every format.

    Named ``<theme>-<format>-<line>``. Fields as the night fills them: the framing line,
    the theme's title, message and call to action, a short link, the legal mention.
    """
    import yaml

    from matinale.content.brief import load_brief
    from matinale.visuals.draw import _draw
    from matinale.visuals.kit import load_kit

    templates = templates_dir or _ROOT / "content_templates"
    kit = load_kit(templates)
    path = templates / "sample_brief.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    brief = load_brief(path, raw["edition"])
    campaign = yaml.safe_load((_ROOT / "campaign.yaml").read_text(encoding="utf-8"))
    footer = str(campaign.get("legal", {}).get("mention", ""))
    framing = list(brief.framing.values())[:lines] or [""]
    cards = []
    for theme in brief.themes[:themes]:
        for number, line in enumerate(framing, start=1):
            fields = {
                "tagline": line,
                "headline": theme.title,
                "body": theme.key_message,
                "cta": theme.call_to_action,
                "link": _SHORT_LINK,
                "footer": footer,
            }
            for name in kit.formats:
                image = _draw(kit, kit.layouts[name], fields)
                cards.append((f"{theme.id}-{name}-{number}", image))
    return cards


def _pixels(data: bytes) -> np.ndarray:
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def ssim(reference: np.ndarray, other: np.ndarray) -> float:
    """Colour SSIM of two decoded cards (8-bit RGB)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(reference, other, channel_axis=2, data_range=255))


def candidates(qualities: Iterable[int] = (90, 85, 80, 75, 70, 65, 60)) -> list[Encoder]:
    """Every JPEG setting measured: quality × subsampling × (baseline, optimised, progressive)."""
    options = ((False, False), (False, True), (True, True))
    return [
        Encoder(quality=q, subsampling=sub, progressive=prog, optimize=opt)
        for q in qualities
        for sub in ("4:2:0", "4:4:4")
        for prog, opt in options
    ]


@dataclass(frozen=True)
class Measure:
    """One setting over the sample cards."""

    encoder: Encoder
    bytes_by_format: dict[str, float]  # mean bytes per card of each format
    mean_bytes: float
    min_ssim: float
    mean_ssim: float
    encode_ms: float  # mean encode time per card, one process

    @property
    def passes(self) -> bool:
        return self.min_ssim >= SSIM_FLOOR


def measure(cards: Sequence[tuple[str, Image.Image]], encoders: Sequence[Encoder]) -> list[Measure]:
    """Each setting's bytes, SSIM against :data:`BASELINE` and encode time on ``cards``.

    A decode identical to one already scored (progressive or optimised tables change the
    bytes, not the coefficients) reuses its SSIM: SSIM is the slow part.
    """
    references = [_pixels(encode_image(image, BASELINE)) for _, image in cards]
    scores: dict[tuple[int, bytes], float] = {}
    results = []
    for encoder in encoders:
        sizes: dict[str, list[int]] = {}
        values = []
        started = time.perf_counter()
        encoded = [encode_image(image, encoder) for _, image in cards]
        elapsed = time.perf_counter() - started
        for index, ((name, _), data) in enumerate(zip(cards, encoded, strict=True)):
            sizes.setdefault(name.split("-")[-2], []).append(len(data))
            pixels = _pixels(data)
            key = (index, hashlib.sha256(pixels.tobytes()).digest())
            if key not in scores:
                scores[key] = ssim(references[index], pixels)
            values.append(scores[key])
        everything = [size for group in sizes.values() for size in group]
        results.append(
            Measure(
                encoder=encoder,
                bytes_by_format={k: sum(v) / len(v) for k, v in sizes.items()},
                mean_bytes=sum(everything) / len(everything),
                min_ssim=min(values),
                mean_ssim=sum(values) / len(values),
                encode_ms=elapsed * 1000 / len(cards),
            )
        )
    return results


def smallest_passing(results: Sequence[Measure]) -> Measure | None:
    """The setting with the fewest bytes per card whose every card meets the floor."""
    passing = [result for result in results if result.passes]
    return min(passing, key=lambda r: r.mean_bytes) if passing else None


def _table(results: Sequence[Measure], shipped: Encoder) -> str:
    formats = sorted({name for result in results for name in result.bytes_by_format})
    base = next((r for r in results if r.encoder == BASELINE), results[0])
    head = ["setting", *(f"{name} KB" for name in formats), "mean KB", "vs q90", "min SSIM"]
    head += ["mean SSIM", "ms/card", ""]
    rows = [head]
    for result in results:
        mark = "shipped" if result.encoder == shipped else ""
        if not result.passes:
            mark = (mark + " below floor").strip()
        rows.append(
            [
                result.encoder.describe(),
                *(f"{result.bytes_by_format.get(name, 0) / 1000:.1f}" for name in formats),
                f"{result.mean_bytes / 1000:.1f}",
                f"{result.mean_bytes / base.mean_bytes:.2f}",
                f"{result.min_ssim:.4f}",
                f"{result.mean_ssim:.4f}",
                f"{result.encode_ms:.1f}",
                mark,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m matinale.dev.card_quality", description=__doc__
    )
    parser.add_argument("--themes", type=int, default=2, help="themes drawn (default 2)")
    parser.add_argument("--lines", type=int, default=2, help="framing lines per theme (default 2)")
    parser.add_argument(
        "--quality", type=int, action="append", help="a JPEG quality to try (repeatable)"
    )
    args = parser.parse_args(argv)
    from matinale.visuals.kit import load_kit

    shipped = load_kit(_ROOT / "content_templates").brand.encoder
    cards = sample_cards(themes=args.themes, lines=args.lines)
    encoders = candidates(args.quality or (90, 85, 80, 75, 70, 65, 60))
    if shipped not in encoders:
        encoders.append(replace(shipped))
    results = measure(cards, encoders)
    print(f"{len(cards)} sample cards; SSIM against {BASELINE.describe()}; floor {SSIM_FLOOR}")
    print(_table(results, shipped))
    best = smallest_passing(results)
    if best is not None:
        print(f"Smallest passing the floor: {best.encoder.describe()}")
    ok = next((r.passes for r in results if r.encoder == shipped), False)
    print(f"Shipped ({shipped.describe()}): {'meets' if ok else 'BELOW'} the floor")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
