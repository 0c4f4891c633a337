"""The errors of card drawing: one base class, so callers catch every card problem at once."""

from __future__ import annotations

from matinale.errors import MatinaleError

__all__ = ["BrandError", "CardError", "TextFitError"]


class CardError(MatinaleError, RuntimeError):
    """A card cannot be drawn: the message names segment, format and theme, and what to do."""


class BrandError(CardError):
    """``brand.yaml`` or a card layout is unusable (missing font, unknown colour, poor contrast…)."""


class TextFitError(CardError):
    """A text does not fit its box even at the layout's minimum size."""
