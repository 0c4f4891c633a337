"""One segment's posts: context, rendering, shortening to fit, checks, and distinct variants."""

from __future__ import annotations

import html as _html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from typing import TYPE_CHECKING, Any

from matinale.content import typography
from matinale.content.brief import Theme
from matinale.content.channels import _HREF, _html_text, _loose
from matinale.content.choices import _Choosing
from matinale.content.errors import (
    ContentError,
    FitError,
    LinkError,
    MentionError,
    TypographyError,
    VariantError,
)
from matinale.content.links import _link_problem, _site, opaque_content, tracked_link
from matinale.content.quality import check_post
from matinale.content.render import _STEP_VARIABLES, _namespace, _render
from matinale.content.rules import (
    _Choice,
    _choose_angle,
    _signature,
    jaccard,
)
from matinale.content.typography import URL_PATTERN
from matinale.schemas.fields import SLUG
from matinale.segment import Segment

if TYPE_CHECKING:
    from matinale.content.posts import PostWriter


def _sentence(text: str) -> str:
    """``text`` ending like a sentence (a title used as an SMS line)."""
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


_HASHTAG_IN_TEXT = re.compile(r"(?<![&\w])#\w+")


@dataclass
class SegmentPosts:
    """Everything made for one segment: what posts.json and posts.md hold."""

    segment: str
    edition: date
    angle: str
    themes: list[str]
    posts: list[dict[str, Any]]
    similarity: list[dict[str, Any]]
    #: The segment's channels, most shared first, when the night learnt it (the page's order).
    channel_order: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {
            "segment": self.segment,
            "edition": self.edition.isoformat(),
            "angle": self.angle,
            "themes": self.themes,
            "posts": self.posts,
            "similarity": self.similarity,
        }
        if self.channel_order:
            data["channel_order"] = self.channel_order
        return data


class _SegmentMaker(_Choosing):
    """Renders and checks the posts of one segment; one instance per segment."""

    def __init__(self, writer: PostWriter, segment: Segment) -> None:
        self.w = writer
        self.segment = segment
        self.segment_id = segment.id
        if not SLUG.match(self.segment_id):
            raise ContentError(
                f"segment id {self.segment_id!r} is not a slug; segments.json is corrupt"
            )
        rules = writer.rules
        self.angle = rules.angles[_choose_angle(segment, rules)]
        # Territorial packs count as one band: pieces tagged `territory` are theirs.
        self.band = "territory" if segment.kind == "territory" else segment.band
        self.territory, self.in_territory = (
            segment.territory.forms() if segment.territory else (segment.place, "")
        )
        if segment.kind != "territory":
            self.territory = self.in_territory = ""
        interests = list(segment.top_interests)
        self.interest = (
            rules.interests.get(interests[0], interests[0].replace("-", " ")) if interests else ""
        )
        lines = writer.brief.lines
        self.staff_line = next(
            (lines[k] for k in (self.segment_id, segment.band, self.angle.id) if k and k in lines),
            None,
        )
        self.segment_ns = _namespace(
            id=self.segment_id,
            label=segment.label,
            band_label=segment.band_label,
            kind=segment.kind,
            territory=self.territory,
            interest=self.interest,
        )
        self.opener_context = {
            "territory": self.territory,
            "in_territory": self.in_territory,
            "territory_level": segment.territory.level if segment.territory else "",
            "interest": self.interest,
            "segment": self.segment_ns,
        }
        self._openers: dict[str, str] = {}
        self._bases: dict[tuple[str, str, int], tuple[dict[str, Any], frozenset[str]]] = {}
        # The segment's campaign links, theme namespaces and facts: every variant of a
        # theme and channel (and every channel of a theme) asks for the same ones.
        self._links: dict[tuple[str, str, str, str, int | None], tuple[str, str]] = {}
        self._themes: dict[tuple[str, bool], Any] = {}
        self._facts: dict[str, tuple[Any, ...]] = {}

    # -- one post

    def _context(
        self, theme: Theme, channel: str, variant: int, choice: _Choice
    ) -> tuple[dict[str, Any], set[str]]:
        """The template context of one post before shortening, and the links it may print."""
        base, tracked = self._variant_base(theme, channel, variant)
        links = set(tracked)
        angle = choice.angle or self.angle.id
        link, destination = base["link"], base["destination"]
        if angle != self.angle.id:  # this variant makes another angle: its own short link
            link, destination = self._campaign_link(theme, channel, variant, angle)
            links.add(link)
        # Any other link a template prints (``| track``): tracked, long, opaque content
        # (its hash made when a template first asks: most print no other link).
        content = ""

        def track(url: str) -> str:
            nonlocal content
            content = content or opaque_content(self.segment_id, theme.id, channel, str(variant))
            tracked = tracked_link(
                url,
                channel=channel,
                edition=self.w.edition,
                content=content,
                allowed_domains=self.w.allowed,
                own=self.w.own,
            )
            links.add(tracked)
            return tracked

        context = {
            **base,
            "facts": list(
                base["facts"]
            ),  # a list of this post's own: a template may not change another's
            "theme": self._theme_ns(theme, base["theme"].local),
            "argument": self._argument(theme, variant),
            "address": self.address(channel),
            "opener": choice.opener,
            "cta": choice.cta,
            "cta_intro": choice.cta_intro,
            "call": choice.call,
            # The link in words (Instagram): a short link without its scheme; a long one as is.
            "link": link,
            "destination": destination,
            "link_words": link.removeprefix("https://") if "?" not in link else link,
            "hashtag_list": list(choice.hashtags),
            "hashtags": " ".join(f"#{h}" for h in choice.hashtags),
            "_track": track,
        }
        return context, links

    def _theme_ns(self, theme: Theme, local: bool) -> Any:
        """The theme as templates read it: the band's own key message and claim."""
        cached = self._themes.get((theme.id, local))
        if cached is not None:
            return cached
        texts = theme.texts(self.band)
        cached = self._themes[theme.id, local] = _namespace(
            id=theme.id,
            title=theme.title,
            key_message=texts.key_message,
            claim=texts.claim,
            subject=theme.subject or theme.title,
            sms_line=theme.sms_line or _sentence(theme.title),
            local=local,
        )
        return cached

    def _argument(self, theme: Theme, variant: int) -> str:
        arguments = theme.texts(self.band).arguments
        return arguments[(variant - 1) % len(arguments)] if arguments else ""

    def _variant_base(
        self, theme: Theme, channel: str, variant: int
    ) -> tuple[dict[str, Any], frozenset[str]]:
        """What the context of every candidate for this variant shares, and its tracked links.

        A candidate rejected as too similar is followed by another for the same variant
        number: its links and facts are tracked once.
        """
        key = (theme.id, channel, variant)
        cached = self._bases.get(key)
        if cached is not None:
            return cached
        link, destination = self._campaign_link(theme, channel, variant, self.angle.id)
        links: set[str] = {link, *(f.source for f in theme.facts)}
        # Sources are printed untracked (and cited as text where the channel says so).
        facts = self._facts.get(theme.id)
        if facts is None:
            facts = self._facts[theme.id] = tuple(
                _namespace(text=f.text, source=f.source, site=_site(f.source), citation=f.citation)
                for f in theme.facts
            )
        local = bool(self.segment.theme) and self.segment.theme == theme.id
        base = {
            "campaign": self.w.campaign_ns,
            "segment": self.segment_ns,
            "angle": self.angle.id,
            "theme": _namespace(
                id=theme.id, title=theme.title, key_message=theme.key_message, local=local
            ),
            "variant": variant,
            "link": link,
            "destination": destination,
            "facts": facts,
            "compact": False,
            "minimal": False,
            "territory": self.territory,
            "interest": self.interest,
        }
        cached = self._bases[key] = (base, frozenset(links))
        return cached

    def _campaign_link(
        self, theme: Theme, channel: str, variant: int, angle: str
    ) -> tuple[str, str]:
        """The campaign's link as printed and its destination: the run's short link when it
        has a link service (posts.json keeps the long destination, with UTM on the campaign's
        own domain and the code as an opaque utm_content), else the destination itself.

        A short link names no variant: the variants of one angle share it, made once."""
        short = self.w.short
        key = (theme.id, theme.link, channel, angle, None if short else variant)
        cached = self._links.get(key)
        if cached is not None:
            return cached
        code = short.post(self.segment_id, theme.id, channel, angle) if short else None
        destination = tracked_link(
            theme.link,
            channel=channel,
            edition=self.w.edition,
            content=code or opaque_content(self.segment_id, theme.id, channel, str(variant)),
            allowed_domains=self.w.allowed,
            own=self.w.own,
        )
        printed = short.url(code) if short and code else destination
        self._links[key] = (printed, destination)
        return printed, destination

    @staticmethod
    def _shorten(context: dict[str, Any], steps: Sequence[str]) -> dict[str, Any]:
        context = dict(context)
        if "hashtags" in steps:
            context["hashtags"], context["hashtag_list"] = "", []
        if "facts" in steps:
            context["facts"] = []
        elif "secondary_facts" in steps:
            context["facts"] = context["facts"][:1]
        context["compact"] = "compact" in steps or "minimal" in steps
        context["minimal"] = "minimal" in steps
        return context

    def _render_post(self, channel: str, context: dict[str, Any]) -> dict[str, Any]:
        """The post's parts in the channel's typography; ``_parts`` keeps what checks need."""
        templates = self.w.templates[channel]
        parts: dict[str, typography.Fixed]
        if self.w.registry[channel].form == "email":
            parts = {
                "subject": typography.fix_checked(_render(templates[0], context), "social"),
                "text": typography.fix_checked(_render(templates[1], context), "social"),
                "html": typography.fix_checked(_render(templates[2], context), "html"),
            }
        else:
            parts = {
                "text": typography.fix_checked(
                    _render(templates[0], context), self.w.registry[channel].style
                )
            }
        return {**{name: fixed.text for name, fixed in parts.items()}, "_parts": parts}

    def _measure(self, channel: str, post: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The channel's length fields of ``post`` and, when it does not fit, why."""
        rule = self.w.registry[channel]
        text = post["text"]
        length = typography.x_length(text) if rule.counting == "x" else len(text)
        fields: dict[str, Any] = {"length": length}
        problem = None
        if rule.limit is not None and length > rule.limit:
            problem = f"{length} characters > {rule.limit}"
        if rule.max_hashtags is not None:
            tags = len(_HASHTAG_IN_TEXT.findall(text))
            if tags > rule.max_hashtags:
                problem = f"{tags} hashtags > {rule.max_hashtags}"
        if rule.counting == "gsm7":
            sms = typography.sms_count(text)
            fields.update(parts=sms.parts, encoding=sms.encoding, units=sms.units)
            if rule.max_parts is not None and sms.parts > rule.max_parts:
                problem = f"{sms.parts} parts of {sms.encoding} ({sms.units} units) > {rule.max_parts} parts"
        if (
            rule.subject_limit is not None
            and "subject" in post
            and len(post["subject"]) > rule.subject_limit
        ):
            problem = f"subject of {len(post['subject'])} characters > {rule.subject_limit}"
        return fields, problem

    def fitted(
        self, theme: Theme, channel: str, variant: int, choice: _Choice
    ) -> tuple[dict[str, Any], set[str]]:
        """One post that fits its channel, shortened step by step, and the links it may hold."""
        context, links = self._context(theme, channel, variant, choice)
        used = self.w.used[channel]
        steps: list[str] = []
        problem = ""
        for step in [None, *self.w.rules.shorten]:
            if step is not None:
                steps.append(step)
                if not used & _STEP_VARIABLES[step]:
                    continue  # the channel's templates never read what this step changes
            post = self._render_post(channel, self._shorten(context, steps) if steps else context)
            fields, problem = self._measure(channel, post)  # type: ignore[assignment]
            if problem is None:
                entry = {
                    "theme": theme.id,
                    "channel": channel,
                    "variant": variant,
                    **post,
                    **fields,
                }
                entry["link"] = context["link"]
                entry["destination"] = context["destination"]
                entry["shortened"] = list(steps)
                entry["angle"] = choice.angle or self.angle.id
                entry["opener"] = choice.opener_id
                entry["address"] = context["address"]
                if channel == "sms":
                    style = self.w.registry[channel].style
                    entry["message"] = typography.fix(context["theme"].sms_line, style)
                return entry, links
        raise FitError(
            f"segment {self.segment_id}, channel {channel}, theme {theme.id}: does not fit ({problem}) even after "
            f"{', '.join(self.w.rules.shorten)}; shorten the theme's key message, call to action or link in the brief, "
            f"or the template content_templates/posts/{channel}*.j2"
        )

    # -- checks

    def _where(self, post: Mapping[str, Any]) -> str:
        return f"segment {self.segment_id}, channel {post['channel']}, theme {post['theme']}, variant {post['variant']}"

    def check(
        self, post: dict[str, Any], links: set[str], parts: Mapping[str, typography.Fixed]
    ) -> None:
        """Typography, links and mandatory mentions of one rendered post."""
        channel = post["channel"]
        for name, fixed in parts.items():
            if fixed.issues:
                issues = fixed.issues
                raise TypographyError(
                    f"{self._where(post)}: {name}: {issues[0]} ({len(issues)} problem(s)); fix the template"
                )
            for url in fixed.links:
                url = url.replace("&amp;", "&") if name == "html" else url
                if url in links or url == self.w.unsubscribe:
                    continue
                problem = _link_problem(url, self.w.allowed) or (
                    f"{url!r} is not tracked for this post; print links from the context ({{{{ link }}}}, "
                    f"{{{{ fact.source }}}}) or through the 'track' filter"
                )
                raise LinkError(f"{self._where(post)}: {name}: {problem}")
            if self.w.registry[channel].direct and name != "subject":
                self._check_mentions(post, name, fixed.bare, fixed.links, html=name == "html")
        check_post(
            self._where(post),
            post,
            legal=self.w.legal_lines,
            proper_nouns=self.w.proper_nouns,
            # UTM parameters go on the campaign's own site only (none set: anywhere).
            campaign_hosts=(self.w.own,) if self.w.own else None,
        )

    def _check_mentions(
        self, post: Mapping[str, Any], part: str, bare: str, links: list[str], *, html: bool
    ) -> None:
        loose = _loose(_html_text(bare) if html else bare)
        if html:
            # In HTML a link counts only as a real href, which is what a reader can click.
            links = [_html.unescape(m.group(2)) for m in _HREF.finditer(post["html"])]
        for label, key in self.w.registry[post["channel"]].mentions:
            value = str(self.w.campaign.get(key) or "")
            present = value in links if URL_PATTERN.fullmatch(value) else _loose(value) in loose
            if not present:
                raise MentionError(
                    f"{self._where(post)}: {part} lacks the mandatory mention '{label}' ({key} of campaign.yaml: "
                    f"{value!r}); the template content_templates/posts/{post['channel']}*.j2 must print "
                    f"{{{{ campaign.{key} }}}}. Nothing was published."
                )

    # -- variants

    def _signature(self, channel: str, parts: Mapping[str, typography.Fixed]) -> frozenset[str]:
        """What an author chose: links and fixed legal mentions left out of the comparison."""
        bare = (
            f"{parts['subject'].bare}\n{parts['text'].bare}"
            if "subject" in parts
            else parts["text"].bare
        )
        return _signature(bare, self.w.fixed_mentions.get(channel, ()), self.w.rules.shingle)

    def theme_channel(
        self, theme: Theme, channel: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The accepted variants of one theme × channel and their similarity summary."""
        rule = self.w.rules.channels[channel]
        accepted: list[dict[str, Any]] = []
        signatures: list[frozenset[str]] = []
        matrix: list[list[float]] = []
        rejected = 0
        closest = 0.0
        for choice in self.choices(theme, channel):
            if len(accepted) == self.w.variants or rejected >= 2 * self.w.variants:
                break  # enough variants, or the ingredients are used up
            post, links = self.fitted(theme, channel, len(accepted) + 1, choice)
            parts = post.pop("_parts")
            signature = self._signature(channel, parts)
            row = [round(jaccard(signature, other), 3) for other in signatures]
            nearest = max(row, default=0.0)
            if nearest > rule.threshold:
                rejected += 1
                closest = max(closest, nearest)
                continue
            self.check(post, links, parts)
            for earlier, value in zip(matrix, row, strict=True):
                earlier.append(value)
            matrix.append([*row, 1.0])
            accepted.append(post)
            signatures.append(signature)
        if len(accepted) < min(rule.min_distinct, self.w.variants):
            raise VariantError(
                f"segment {self.segment_id}, channel {channel}, theme {theme.id}: only {len(accepted)} variant(s) differ "
                f"enough (similarity {closest:.2f} > threshold {rule.threshold}); add openers, call-to-action intros or "
                f"hashtag sets to angle '{self.angle.id}' in content_templates/framing.yaml, or calls to action in the brief"
            )
        pairs = [matrix[i][j] for i, j in combinations(range(len(matrix)), 2)]
        summary = {
            "theme": theme.id,
            "channel": channel,
            "variants": len(accepted),
            "rejected": rejected,
            "threshold": rule.threshold,
            "max": max(pairs, default=0.0),
            "mean": round(sum(pairs) / len(pairs), 3) if pairs else 0.0,
            "matrix": matrix,
        }
        return accepted, summary

    def make(self) -> SegmentPosts:
        posts: list[dict[str, Any]] = []
        similarity: list[dict[str, Any]] = []
        themes = self.theme_order()
        for theme in themes:
            learned = self.w.learned_theme(self.segment_id, theme.id)
            for channel in self.w.channels:
                accepted, summary = self.theme_channel(theme, channel)
                if learned:  # each variant's starting weight on the page: its angle's
                    weights = learned["weights"]
                    for post in accepted:
                        post["weight"] = round(float(weights.get(post["angle"], 0.0)), 6)
                posts.extend(accepted)
                similarity.append(summary)
        return SegmentPosts(
            self.segment_id,
            self.w.edition,
            self.angle.id,
            [t.id for t in themes],
            posts,
            similarity,
            self.w.channel_order(self.segment_id),
        )
