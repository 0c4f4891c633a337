"""The brief and the posts: per segment, theme × channel × variant, checked before they ship.

What happens to one segment (see :func:`render_segment_posts`):

1. its **angle** is chosen by the rules of ``content_templates/framing.yaml`` (territorial
   pack → the local angle, else a rule on band and profile, else the band's framing hint);
2. for each theme and channel, **variant candidates** combine the angle's openers, the
   brief's calls to action, the angle's call-to-action intros and hashtag sets, in an
   order seeded by segment, edition, theme and channel (the same every run);
3. each candidate is rendered by ``content_templates/posts/<channel>.j2`` in Jinja2's
   sandbox with StrictUndefined (brief text is passed as data, never compiled), put into
   the channel's French typography, and **shortened** by the steps of
   ``content_templates/channels.yaml`` (drop hashtags, then secondary facts…) until it fits
   the channel's limit, or the night fails naming segment, channel and theme;
4. every post is **checked**: length, typography, links (https, allowed domain, tracking
   parameters of this channel, edition, segment and variant), and for direct messages
   (SMS, e-mail) the mandatory mentions of ``campaign.yaml``;
5. candidates too similar to an accepted variant (Jaccard similarity of character
   shingles above the configured threshold) are rejected; the similarity matrix of the
   accepted variants goes into the report.

The package, one concern a module:

- :mod:`.brief`: the day's brief, read and validated;
- :mod:`.channels`: the channel registry (channels.yaml: names, kinds, limits, mentions, page);
- :mod:`.rules`: framing rules and angles, variant ingredients, near-duplicate measures;
- :mod:`.render`: the sandboxed Jinja2 environment and fast rendering;
- :mod:`.maker`: one segment's posts (fit, checks, distinct variants);
- :mod:`.posts`: the writer of many segments, posts.json and posts.md;
- :mod:`.pool`: many segments on many cores;
- :mod:`.links`, :mod:`.errors`, :mod:`.typography`: what they all share.
"""

from __future__ import annotations

from matinale.content.brief import Brief, Fact, Theme, load_brief
from matinale.content.channels import (
    Channel,
    channel_ids,
    channels,
    direct_channels,
    load_channels,
    share_channels,
    share_endpoints,
    social_channels,
)
from matinale.content.errors import (
    BriefError,
    ContentError,
    FitError,
    LinkError,
    MentionError,
    RulesError,
    TypographyError,
    VariantError,
)
from matinale.content.links import opaque_content, own_domain, tracked_link
from matinale.content.maker import SegmentPosts
from matinale.content.pool import content_workers, write_segments
from matinale.content.posts import (
    PostWriter,
    SegmentFiles,
    posts_markdown,
    render_segment_posts,
    segment_files,
)
from matinale.content.rules import ContentRules, jaccard, load_rules, shingles

__all__ = [
    "Brief",
    "BriefError",
    "Channel",
    "ContentError",
    "ContentRules",
    "Fact",
    "FitError",
    "LinkError",
    "MentionError",
    "PostWriter",
    "RulesError",
    "SegmentFiles",
    "SegmentPosts",
    "Theme",
    "TypographyError",
    "VariantError",
    "channel_ids",
    "channels",
    "direct_channels",
    "jaccard",
    "content_workers",
    "load_brief",
    "load_channels",
    "load_rules",
    "posts_markdown",
    "render_segment_posts",
    "segment_files",
    "share_channels",
    "share_endpoints",
    "shingles",
    "social_channels",
    "opaque_content",
    "own_domain",
    "tracked_link",
    "write_segments",
]
