"""What stops a segmentation: every error's message says what to fix."""

from __future__ import annotations

from matinale.errors import MatinaleError

__all__ = [
    "ForbiddenCriterionError",
    "NotEnoughSupportersError",
    "SegmentDefinitionError",
    "SegmentationError",
]


class SegmentationError(MatinaleError, ValueError):
    """Segmentation cannot run: the message says what to fix."""


class SegmentDefinitionError(SegmentationError):
    """A file in ``segments/`` is wrong: the message names the file, the key and the fix."""


class ForbiddenCriterionError(SegmentDefinitionError):
    """A definition uses a criterion the law forbids (RGPD art. 9, loi I&L art. 6)."""


class NotEnoughSupportersError(SegmentationError):
    """Too few adults to publish even one segment of the minimum size."""
