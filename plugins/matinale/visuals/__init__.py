"""Visual cards: one image per segment × theme × format, drawn with Pillow from data.

Layouts are data (``content_templates/cards/<format>.yaml``: a list of layers drawn in
order) and the brand kit is data (``content_templates/brand.yaml``: colours, fonts shipped
under ``content_templates/fonts/`` with their licence, logo, output encoding). This package
turns both into a checked :class:`CardKit` once, then renders cards fast:

- static layers (background, bands, logo) are pre-rendered once per layout and brand; each
  card is drawn on its layout's one canvas per process, whose pasted boxes get the static
  pixels back after the card;
- fonts are read once per process; a text block (wrapped and fitted) is rendered once per
  process and reused as a mask, because headlines and messages repeat across segments;
- cards are rendered on all the task's cores by a process pool (``render_cards``).

The same inputs give byte-identical files: fonts shipped with the project (never a system
font lookup), Pillow's basic text layout (no shaping library whose version differs between
machines), fixed encoder settings and no metadata, timestamps or random state.

Accessibility is checked before anything is drawn: every text layer must reach the WCAG 2.1
contrast ratio against what lies under it (4.5:1, or 3:1 for large text), and every card
gets a French alt text (:func:`alt_text`).

Modules: :mod:`.kit` (brand kit and layouts, loaded and checked), :mod:`.contrast` (WCAG
checks), :mod:`.encode` (the output encoder's settings), :mod:`.text` (fonts, wrapping, fitting), :mod:`.qr` (QR codes), :mod:`.draw` (one
card, static layers, encoding; the pool's worker side), :mod:`.cards` (the pool and the
stage's entry points), :mod:`.alt` (alt texts), :mod:`.sheet` (contact sheet),
:mod:`.errors`.
"""

from __future__ import annotations

from matinale.visuals.alt import FORMAT_LABELS, alt_text
from matinale.visuals.cards import card_filename, render_card, render_cards, worker_count
from matinale.visuals.contrast import contrast_ratio, relative_luminance
from matinale.visuals.draw import (
    FORMAT_ORDER,
    PREVIEW_MAX_BYTES,
    PREVIEW_MAX_SIDE,
    CardJob,
    CardSink,
    RenderedCard,
    preview_format,
    preview_jpeg,
)
from matinale.visuals.encode import Encoder, encode_image
from matinale.visuals.errors import BrandError, CardError, TextFitError
from matinale.visuals.kit import ENCODINGS, FIELDS, BrandKit, CardKit, Layer, Layout, load_kit
from matinale.visuals.qr import qr_modules
from matinale.visuals.sheet import contact_sheets, contact_strip

__all__ = [
    "ENCODINGS",
    "FIELDS",
    "FORMAT_LABELS",
    "FORMAT_ORDER",
    "PREVIEW_MAX_BYTES",
    "PREVIEW_MAX_SIDE",
    "BrandError",
    "BrandKit",
    "CardError",
    "CardJob",
    "CardKit",
    "CardSink",
    "Encoder",
    "Layer",
    "Layout",
    "RenderedCard",
    "TextFitError",
    "alt_text",
    "card_filename",
    "contact_sheets",
    "contact_strip",
    "contrast_ratio",
    "encode_image",
    "load_kit",
    "preview_format",
    "preview_jpeg",
    "qr_modules",
    "relative_luminance",
    "render_card",
    "render_cards",
    "worker_count",
]
