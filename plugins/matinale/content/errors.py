"""The errors of the content stage: each message names what to fix and where."""

from __future__ import annotations

from matinale.errors import MatinaleError


class BriefError(MatinaleError, ValueError):
    """The brief is wrong: the message names the file, the line and the field."""


class RulesError(MatinaleError, ValueError):
    """A file of ``content_templates/`` is wrong: the message names file, line and key."""


class ContentError(MatinaleError, RuntimeError):
    """A post could not be made: the message names segment, channel and theme."""


class FitError(ContentError):
    """A post does not fit its channel even after every shortening step."""


class MentionError(ContentError):
    """A direct message lacks a mandatory mention of ``campaign.yaml``."""


class LinkError(ContentError):
    """A link is not https, not on an allowed domain, or not tracked."""


class TypographyError(ContentError):
    """A post breaks its channel's typography after the fixer ran (a template bug)."""


class VariantError(ContentError):
    """Too few variants differ enough from each other."""
