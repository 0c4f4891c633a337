"""Posts of many segments for one brief: the writer, posts.json and posts.md of each segment."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, Unpack

from matinale.content import typography
from matinale.content.brief import Brief
from matinale.content.channels import Channel, channels, load_channels
from matinale.content.errors import ContentError, LinkError, MentionError
from matinale.content.links import _link_problem, own_domain
from matinale.content.maker import SegmentPosts, _SegmentMaker
from matinale.content.render import _namespace, _template, _template_variables
from matinale.content.rules import load_rules
from matinale.content.typography import URL_PATTERN
from matinale.segment import Segment

if TYPE_CHECKING:
    from matinale.links.short import ShortLinks
    from matinale.settings import Campaign, Settings


_LEGAL_KEYS = (
    "why_you_receive",
    "how_to_object",
    "sms_stop",
    "controller",
    "dpo_email",
    "sender_name",
)


def legal_lines(campaign: Mapping[str, Any]) -> tuple[str, ...]:
    """The legal mentions as posts print them (longest first): exempt from the rules of
    :mod:`matinale.content.quality`."""
    return tuple(
        sorted(
            {
                typography.fix(str(campaign[key]), style)
                for key in _LEGAL_KEYS
                if campaign.get(key)
                for style in ("social", "sms")
            },
            key=len,
            reverse=True,
        )
    )


class PostWriter:
    """Writes the posts of many segments for one brief: templates and rules loaded once.

    ``writer.segment(segment)`` renders, fits and checks every post of one segment;
    :func:`render_segment_posts` is the one-segment shortcut.
    """

    @classmethod
    def from_settings(cls, brief: Brief, settings: Settings) -> PostWriter:
        """A writer with the campaign's channels, variants and allowed domains."""
        return cls(
            brief,
            campaign=settings.campaign,
            channels=settings.channels,
            templates_dir=settings.templates_dir,
            variants=settings.variants,
            allowed_domains=settings.allowed_domains,
        )

    def __init__(
        self,
        brief: Brief,
        *,
        campaign: Campaign | Mapping[str, Any],
        channels: Sequence[str],
        templates_dir: Path,
        variants: int = 3,
        allowed_domains: Sequence[str] | None = None,
        short: ShortLinks | None = None,
        learned: Mapping[str, Any] | None = None,
    ) -> None:
        self.registry: dict[str, Channel] = load_channels(Path(templates_dir)).channels
        unknown = sorted(set(channels) - set(self.registry))
        if unknown:
            raise ContentError(
                f"unknown channel(s) {unknown}; use {list(self.registry)} (content_templates/channels.yaml)"
            )
        if variants < 1:
            raise ContentError(f"content.variants = {variants} in campaign.yaml; it must be ≥ 1")
        self.brief = brief
        self.edition = brief.edition
        self.channels = tuple(channels)
        self.templates_dir = Path(templates_dir)
        self.variants = variants
        self.allowed = tuple(allowed_domains) if allowed_domains is not None else None
        self.rules = load_rules(self.templates_dir)
        self.campaign = dict(campaign) if isinstance(campaign, Mapping) else asdict(campaign)
        self.campaign_ns = _namespace(**self.campaign)
        self.unsubscribe = str(self.campaign.get("unsubscribe_url") or "")
        self.legal_lines = legal_lines(self.campaign)
        self.proper_nouns = tuple(self.campaign.get("proper_nouns") or ())
        # UTM parameters on the campaign's own domain only; short links when the run has them
        # (set by the content stage: matinale.night.run.short_links).
        self.own = own_domain(str(self.campaign.get("website") or "")) or None
        self.short: ShortLinks | None = short
        # What the night learnt (learned.json's "segments"; set by the content stage):
        # direct messages lead with the leading angle, variants carry their angle's weight.
        self.learned: dict[str, Any] = dict(learned or {})
        # What segments of one band share, made once for the night (the angles and pieces
        # that fit a theme, band and address: matinale.content.choices).
        self.memo: dict[tuple[Any, ...], Any] = {}
        self._check_campaign()
        self.templates: dict[str, tuple[Any, ...]] = {
            channel: tuple(
                _template(self.templates_dir, name, name.endswith(".html.j2"))
                for name in self.registry[channel].templates
            )
            for channel in self.channels
        }
        self.used = {
            channel: _template_variables(self.templates_dir, channel) for channel in self.channels
        }
        for theme in brief.themes:
            for url in (theme.link, *(f.source for f in theme.facts)):
                problem = _link_problem(url, self.allowed)
                if problem:
                    raise LinkError(f"brief, theme {theme.id}: {problem}")
        # The mandatory mentions as they read once typography has run, to leave them out
        # of the similarity of direct messages.
        self.fixed_mentions = {
            channel.id: tuple(
                typography.fix(str(self.campaign.get(key) or ""), channel.style)
                for _, key in channel.mentions
                if self.campaign.get(key) and not URL_PATTERN.fullmatch(str(self.campaign[key]))
            )
            for channel in self.registry.values()
            if channel.direct
        }

    def spec(self) -> dict[str, Any]:
        """The arguments that make this writer again in another process (all picklable)."""
        return {
            "brief": self.brief,
            "campaign": self.campaign,
            "channels": self.channels,
            "templates_dir": self.templates_dir,
            "variants": self.variants,
            "allowed_domains": self.allowed,
            # The run's short links: a worker without them would print long links (the
            # bench's 200-segment night printed 42 % of its posts so).
            "short": self.short,
            "learned": self.learned,
        }

    def learned_theme(self, segment: str, theme: str) -> Mapping[str, Any] | None:
        """learned.json's entry of a segment and theme, or None when the night has none."""
        entry = self.learned.get(segment)
        return entry.get("themes", {}).get(theme) if entry else None

    def lead(self, segment: str, theme: str) -> str | None:
        """The angle direct messages lead with: the learned leading angle once counts back
        it (some angle's posterior is not the prior alone), else None (the rules' angle)."""
        found = self.learned_theme(segment, theme)
        if not found or all(p.get("source") == "prior" for p in found["posterior"].values()):
            return None
        return str(found["leading"])

    def channel_order(self, segment: str) -> list[str]:
        """The segment's channels, most shared first (learned.json), or [] when not known."""
        return list((self.learned.get(segment) or {}).get("channels", ()))

    def _check_campaign(self) -> None:
        direct = [channel for channel in self.channels if self.registry[channel].direct]
        if not direct:
            return
        for channel in direct:
            for label, key in self.registry[channel].mentions:
                if not str(self.campaign.get(key) or "").strip():
                    raise MentionError(
                        f"campaign.yaml: the {label} ({key}) is empty; {channel} messages must carry it"
                    )
        keys = {key for channel in direct for _, key in self.registry[channel].mentions}
        stop = str(self.campaign.get("sms_stop") or "")
        if "sms_stop" in keys and "STOP" not in stop:
            raise MentionError(
                f"campaign.yaml: legal.sms_stop = {stop!r} must hold the keyword STOP (free SMS opt-out)"
            )
        problem = _link_problem(self.unsubscribe, self.allowed)
        if "unsubscribe_url" in keys and problem:
            raise LinkError(f"campaign.yaml: legal.unsubscribe_url: {problem}")

    def segment(self, segment: Segment) -> SegmentPosts:
        """Every post for one segment: theme × channel × variant, rendered, fitted and checked."""
        return _SegmentMaker(self, segment).make()


class WriterOptions(TypedDict):
    """What a :class:`PostWriter` takes besides the brief (its keyword arguments)."""

    campaign: Campaign | Mapping[str, Any]
    channels: Sequence[str]
    templates_dir: Path
    variants: NotRequired[int]
    allowed_domains: NotRequired[Sequence[str] | None]
    learned: NotRequired[Mapping[str, Any] | None]


def render_segment_posts(
    segment: Segment, brief: Brief, **options: Unpack[WriterOptions]
) -> SegmentPosts:
    """Every post for one segment (see :class:`PostWriter` to write many segments)."""
    return PostWriter(brief, **options).segment(segment)


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def posts_markdown(
    result: SegmentPosts,
    *,
    label: str = "",
    theme_titles: Mapping[str, str] | None = None,
    fmt_date: Callable[[date], str] = date.isoformat,
    templates_dir: Path | None = None,
) -> str:
    """posts.md: the segment's posts, readable by a person, French headings.

    Channels are named as ``templates_dir``'s channels.yaml says (default: the project's).
    """
    titles = dict(theme_titles or {})
    names = {channel.id: channel.name for channel in channels(templates_dir)}
    lines = [
        f"# {label or result.segment} — édition du {fmt_date(result.edition)}",
        "",
        f"Angle : {result.angle}",
        "",
    ]
    for theme_id in result.themes:
        lines += [f"## {titles.get(theme_id, theme_id)}", ""]
        for post in (p for p in result.posts if p["theme"] == theme_id):
            extra = f", {post['parts']} SMS ({post['encoding']})" if "parts" in post else ""
            lines += [
                f"### {names[post['channel']]} · variante {post['variant']} ({post['length']} caractères{extra})",
                "",
            ]
            if "subject" in post:
                lines += [f"**Objet :** {post['subject']}", ""]
            lines += [_quote(post["text"]), ""]
    lines += [
        "## Similarité des variantes",
        "",
        "Similarité de Jaccard entre les variantes d'un même thème et canal (0 : tout diffère, 1 : identiques),",
        "liens et mentions légales exclus. Une variante trop proche d'une autre est écartée.",
        "",
        "| Thème | Canal | Variantes | Écartées | Max | Moyenne | Seuil |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in result.similarity:
        values = (f"{item[key]:.2f}".replace(".", ",") for key in ("max", "mean", "threshold"))
        lines.append(
            f"| {titles.get(item['theme'], item['theme'])} | {names[item['channel']]} | {item['variants']} | {item['rejected']} | {' | '.join(values)} |"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SegmentFiles:
    """One segment's posts.json and posts.md, and the counts a task's summary adds up."""

    segment: str
    posts_json: bytes
    posts_md: bytes
    posts: int
    shortened: int
    similarity: tuple[tuple[int, int, float], ...]  # (variants, rejected, max) per theme × channel


def segment_files(writer: PostWriter, segment: Segment, *, date_text: str) -> SegmentFiles:
    """Render one segment's posts and write its two files: posts.json as the store's put_json writes it."""
    from matinale.store import dumps

    result = writer.segment(segment)
    titles = {theme.id: theme.title for theme in writer.brief.themes}
    markdown = posts_markdown(
        result,
        label=segment.label or result.segment,
        theme_titles=titles,
        fmt_date=lambda _day: date_text,
        templates_dir=writer.templates_dir,
    )
    return SegmentFiles(
        segment=result.segment,
        posts_json=dumps(result.to_json()).encode(),
        posts_md=markdown.encode("utf-8"),
        posts=len(result.posts),
        shortened=sum(1 for post in result.posts if post["shortened"]),
        similarity=tuple(
            (item["variants"], item["rejected"], item["max"]) for item in result.similarity
        ),
    )
