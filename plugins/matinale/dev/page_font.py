"""Build the page's heading font: a WOFF2 subset of Lato Bold, committed beside its licence.

The activist page inlines it (``data:`` URI) so its headings use the brand font offline and
with nothing fetched. Only the characters French headings need are kept (Basic Latin, the
accented letters of French, typographic quotes and dashes), which keeps it near 10 KB. Run
once after changing the character set, then commit the result:

    PYTHONPATH=plugins .venv/bin/python -m matinale.dev.page_font
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["CHARACTERS", "FONT", "build_subset", "main"]

ROOT = Path(__file__).resolve().parents[3]
FONTS = ROOT / "content_templates" / "fonts"
SOURCE = FONTS / "Lato-Bold.ttf"
FONT = FONTS / "Lato-Bold-page.woff2"
#: Basic Latin, the accented letters and ligatures of French, and its typography.
CHARACTERS = (
    "".join(chr(c) for c in range(0x20, 0x7F))
    + "ÀÂÄÆÇÈÉÊËÎÏÔŒÙÛÜŸàâäæçèéêëîïôœùûüÿ"
    + "\u00a0\u202f’‘“”«»–—…·×€°"
)


def build_subset(source: Path = SOURCE, out: Path = FONT) -> int:
    """Write the WOFF2 subset of ``source`` to ``out``; return its size in bytes."""
    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["kern", "liga"]
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keep copyright and licence names
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = True
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=CHARACTERS)
    subsetter.subset(font)
    subset.save_font(font, str(out), options)
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=FONT)
    args = parser.parse_args(argv)
    size = build_subset(out=args.out)
    print(f"{args.out}: {size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
