"""The channel registry: ``content_templates/channels.yaml`` read, validated and asked.

channels.yaml is the only list of channels: each declares its names, its kind (a social
post activists share, or a direct message the campaign sends), the consent column that
allows it, how its length is counted, its limits and the platform's ceilings, its
mandatory mentions, where the activists' page shows it and its share link. Every module
asks this one (:func:`channels`, :func:`social_channels`, :func:`share_channels`…); the code
of each counting and typography rule stays in :mod:`matinale.content.typography`, named by
key here.

Also what the mandatory-mention checks share: the text a reader sees (:func:`_html_text`)
and the loose form mentions are compared in (:func:`_loose`).
"""

from __future__ import annotations

import html as _html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from matinale.content.charset import to_gsm7
from matinale.content.errors import RulesError
from matinale.content.typography import Style
from matinale.schemas.fields import Section
from matinale.yamlfile import Fix, YamlDoc, load_yaml

__all__ = [
    "Channel",
    "ChannelsFile",
    "ChannelsRegistry",
    "channel_ids",
    "channels",
    "default_templates_dir",
    "direct_channels",
    "load_channels",
    "share_channels",
    "share_endpoints",
    "social_channels",
]

_SHORTEN_STEPS = ("hashtags", "secondary_facts", "facts", "compact", "minimal")
_LIMIT_KEYS = ("limit", "max_hashtags", "max_parts", "subject_limit")
_ID = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


# ------------------------------------------------------------------ the file's model


def _similarity(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise Fix(f"must be a similarity in (0, 1]; got {value!r}", "write a number such as 0.8")
    return value


def _step(value: Any) -> Any:
    if value not in _SHORTEN_STEPS:
        raise Fix(f"unknown step {value!r}", f"use {', '.join(_SHORTEN_STEPS)}")
    return value


def _share_url(value: str) -> str:
    if not value.startswith("https://") or not ("{text}" in value or "{link}" in value):
        raise Fix(
            f"{value!r} is not a share link",
            "write an https URL holding {text} or {link}, e.g. https://wa.me/?text={text}",
        )
    return value


Similarity = Annotated[float, BeforeValidator(_similarity)]
Positive = Annotated[int, Field(ge=1, description="A whole number ≥ 1")]
Step = Annotated[
    str, BeforeValidator(_step), Field(json_schema_extra={"enum": list(_SHORTEN_STEPS)})
]


class Ceilings(Section):
    """The platform's own ceilings: the channel's limits may tighten them, never loosen them."""

    limit: Positive | None = None
    max_hashtags: Positive | None = None
    max_parts: Positive | None = None
    subject_limit: Positive | None = None


class PageSpec(Section):
    """Where the activists' page shows a social channel, and the card offered with it."""

    order: int = Field(description="Position among the page's channels, lowest first")
    card: str | None = Field(None, description="Card format shared with it: square, landscape…")


class ShareSpec(Section):
    """The share link the page offers when the phone cannot share by itself."""

    order: int = Field(description="Position among the share links, lowest first")
    url: Annotated[str, AfterValidator(_share_url)] = Field(
        description="https URL with {text} and/or {link}", examples=["https://wa.me/?text={text}"]
    )


class ChannelSpec(Section):
    """One channel of channels.yaml."""

    name: str = Field(min_length=1, description="Its name in posts.md and share links")
    label: str | None = Field(None, description="Its name on the page (default: name)")
    kind: Literal["social", "direct"] = Field(
        description="social: activists share it; direct: the campaign's tool sends it"
    )
    # A column of the supporter file (matinale.ingest.schema.CONSENT_FIELDS, where its
    # header spellings are); not imported here: reading channels.yaml must stay light.
    consent: str = Field(
        pattern=r"^consent_[a-z0-9_]+$",
        description="The supporter file's consent column that allows it",
        examples=["consent_social"],
    )
    counting: Literal["plain", "x", "gsm7"] = "plain"
    style: Literal["social", "sms"] = "social"
    form: Literal["text", "email"] = "text"
    platform: Ceilings = Ceilings()
    limit: Positive | None = None
    max_hashtags: Positive | None = None
    max_parts: Positive | None = None
    subject_limit: Positive | None = None
    threshold: Similarity | None = None
    min_distinct: Positive | None = None
    mentions: dict[str, str] = Field(
        default_factory=dict, description="What each message must print: its key in campaign.yaml"
    )
    page: PageSpec | None = None
    share: ShareSpec | None = None


class VariantsSpec(Section):
    shingle: Positive = 5
    threshold: Similarity = 0.7
    min_distinct: Positive = 1


class ChannelsFile(Section):
    """content_templates/channels.yaml: the channels, how posts are shortened, variants."""

    model_config = ConfigDict(title="channels.yaml")

    channels: dict[str, ChannelSpec] = Field(min_length=1)
    shorten: list[Step] = Field(default_factory=lambda: list(_SHORTEN_STEPS))
    variants: VariantsSpec = VariantsSpec()


# ------------------------------------------------------------------ the registry


@dataclass(frozen=True)
class Channel:
    """One channel as every module sees it (channels.yaml, defaults applied)."""

    id: str
    name: str
    label: str
    kind: Literal["social", "direct"]
    consent: str
    counting: Literal["plain", "x", "gsm7"]
    style: Style
    form: Literal["text", "email"]
    limit: int | None
    max_hashtags: int | None
    max_parts: int | None
    subject_limit: int | None
    threshold: float
    min_distinct: int
    mentions: tuple[tuple[str, str], ...]  # (what the mention is, its key in Settings.campaign)
    page_order: int | None
    card: str | None
    share_order: int | None
    share_url: str | None

    @property
    def direct(self) -> bool:
        return self.kind == "direct"

    @property
    def templates(self) -> tuple[str, ...]:
        """Its templates under ``posts/``: one, or subject, text and HTML for an e-mail."""
        if self.form == "email":
            return (f"{self.id}.subject.j2", f"{self.id}.txt.j2", f"{self.id}.html.j2")
        return (f"{self.id}.j2",)


#: What content.rules knows a channel's rules as.
_ChannelRule = Channel


@dataclass(frozen=True)
class ChannelsRegistry:
    """channels.yaml validated: the channels in its order, shortening steps, shingle size."""

    channels: dict[str, Channel]
    shorten: tuple[str, ...]
    shingle: int


def _ceilings(doc: YamlDoc, name: str, spec: ChannelSpec) -> None:
    for key in _LIMIT_KEYS:
        value, cap = getattr(spec, key), getattr(spec.platform, key)
        if value is not None and cap is not None and value > cap:
            message = (
                f"{value} is over {name}'s own limit of {cap}"
                if key == "limit"
                else f"{value} is over the ceiling of {cap}"
            )
            raise doc.refuse(
                message, f"at most {cap} (platform.{key})", path=("channels", name, key)
            )


def _channel(name: str, spec: ChannelSpec, variants: VariantsSpec) -> Channel:
    limits = {key: getattr(spec, key) or getattr(spec.platform, key) for key in _LIMIT_KEYS}
    return Channel(
        id=name,
        name=spec.name,
        label=spec.label or spec.name,
        kind=spec.kind,
        consent=spec.consent,
        counting=spec.counting,
        style=spec.style,
        form=spec.form,
        threshold=float(spec.threshold if spec.threshold is not None else variants.threshold),
        min_distinct=spec.min_distinct or variants.min_distinct,
        mentions=tuple(spec.mentions.items()),
        page_order=spec.page.order if spec.page else None,
        card=spec.page.card if spec.page else None,
        share_order=spec.share.order if spec.share else None,
        share_url=spec.share.url if spec.share else None,
        **limits,
    )


@cache
def load_channels(templates_dir: Path) -> ChannelsRegistry:
    """``templates_dir/channels.yaml`` validated (read once per process and folder)."""
    path = Path(templates_dir) / "channels.yaml"
    if not path.is_file():
        raise RulesError(f"{path}: missing; it ships with the project (git checkout it)")
    doc = load_yaml(path, error=RulesError)
    file = doc.validate(ChannelsFile, {} if doc.data is None else doc.data)
    for name, spec in file.channels.items():
        if not _ID.match(name):
            raise doc.refuse(
                f"channel id {name!r} is not a name", "use a-z, 0-9 and _", path=("channels", name)
            )
        _ceilings(doc, name, spec)
    return ChannelsRegistry(
        channels={
            name: _channel(name, spec, file.variants) for name, spec in file.channels.items()
        },
        shorten=tuple(file.shorten),
        shingle=file.variants.shingle,
    )


def _load_channels(path: Path) -> tuple[dict[str, Channel], tuple[str, ...], int]:
    """What content.rules reads of channels.yaml: channels, shortening steps, shingle size."""
    registry = load_channels(path.parent)
    return registry.channels, registry.shorten, registry.shingle


def default_templates_dir() -> Path:
    """The project's ``content_templates/`` (``$MATINALE_HOME``'s, as Settings has it)."""
    from matinale.settings import project_home

    return project_home() / "content_templates"


def channels(templates_dir: Path | None = None) -> tuple[Channel, ...]:
    """Every channel, in the order of channels.yaml (default: the project's)."""
    return tuple(load_channels(Path(templates_dir or default_templates_dir())).channels.values())


def channel_ids(templates_dir: Path | None = None) -> tuple[str, ...]:
    return tuple(channel.id for channel in channels(templates_dir))


def _ordered(found: Sequence[Channel], key: str) -> tuple[Channel, ...]:
    ranks = {channel.id: getattr(channel, key) for channel in found}
    return tuple(sorted(found, key=lambda c: (ranks[c.id] is None, ranks[c.id] or 0)))


def social_channels(templates_dir: Path | None = None) -> tuple[Channel, ...]:
    """Channels activists share themselves, in the page's order."""
    return _ordered([c for c in channels(templates_dir) if not c.direct], "page_order")


def direct_channels(templates_dir: Path | None = None) -> tuple[Channel, ...]:
    """Channels the campaign's own tool sends (SMS, e-mail), in the file's order."""
    return tuple(c for c in channels(templates_dir) if c.direct)


def share_channels(templates_dir: Path | None = None) -> tuple[Channel, ...]:
    """Channels with a share link on the page, in the order of those links."""
    return _ordered([c for c in channels(templates_dir) if c.share_url], "share_order")


def share_endpoints(templates_dir: Path | None = None) -> tuple[str, ...]:
    """The beginnings of the share links a page may hold (up to their first placeholder)."""
    return tuple(c.share_url.split("{", 1)[0] for c in share_channels(templates_dir) if c.share_url)


# ------------------------------------------------------------------ mention checks

# Mentions are looked for in the text a reader sees: HTML without tags, typography aside.
_HREF = re.compile(r"""href\s*=\s*(["'])(.*?)\1""", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_COMBINING = re.compile("[\u0300-\u036f]")


@lru_cache(maxsize=8192)
def _loose(text: str) -> str:
    """Text compared for mentions: no accents, case or typography, single spaces."""
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", to_gsm7(text)))
    return " ".join(text.casefold().replace('"', " ").split())


@lru_cache(maxsize=8192)
def _html_text(markup: str) -> str:
    return _html.unescape(_TAGS.sub(" ", markup))
