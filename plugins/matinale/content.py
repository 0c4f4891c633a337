"""The brief and the posts: one set of posts per segment × theme × channel.

Brief text is data, never template code: templates run in Jinja2's sandbox with
StrictUndefined, and only template files from ``content_templates/`` are compiled.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import yaml

__all__ = [
    "Brief",
    "BriefError",
    "ContentError",
    "Theme",
    "load_brief",
    "render_segment_posts",
    "tracked_link",
]

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_EMAIL_PARTS = ("subject", "txt", "html")


class BriefError(ValueError):
    """The brief is wrong: the message names the file and the field."""


class ContentError(RuntimeError):
    """A post could not be made: the message names segment, channel and theme."""


@dataclass(frozen=True)
class Fact:
    text: str
    source: str


@dataclass(frozen=True)
class Theme:
    id: str
    title: str
    key_message: str
    link: str
    call_to_action: str
    facts: tuple[Fact, ...] = ()
    hashtags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Brief:
    edition: date
    themes: tuple[Theme, ...]
    framing: dict[str, str] = field(default_factory=dict)


def _text(item: dict[str, Any], key: str, where: str, path: Path) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BriefError(f"{path}: {where}.{key} is required and must be text")
    return value.strip()


def load_brief(path: Path, edition: date | None = None) -> Brief:
    """Read and validate a brief; ``edition`` (if given) must match the date inside."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BriefError(f"{path}: no brief for this edition; staff must write it before the cut-off") from exc
    except yaml.YAMLError as exc:
        raise BriefError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise BriefError(f"{path}: the brief must be a mapping with 'edition' and 'themes'")
    inside = raw.get("edition")
    if not isinstance(inside, date):
        raise BriefError(f"{path}: 'edition' must be a date (YYYY-MM-DD)")
    if edition is not None and inside != edition:
        raise BriefError(f"{path}: edition {inside} inside does not match the expected {edition}: is this yesterday's brief?")
    themes = []
    for index, item in enumerate(raw.get("themes") or []):
        where = f"themes[{index}]"
        if not isinstance(item, dict):
            raise BriefError(f"{path}: {where} must be a mapping")
        theme_id = _text(item, "id", where, path)
        if not _SLUG.match(theme_id):
            raise BriefError(f"{path}: {where}.id = {theme_id!r} must be a slug (a-z, 0-9, '-')")
        facts = tuple(
            Fact(text=_text(f, "text", f"{where}.facts[{i}]", path), source=_text(f, "source", f"{where}.facts[{i}]", path))
            for i, f in enumerate(item.get("facts") or [])
        )
        themes.append(
            Theme(
                id=theme_id,
                title=_text(item, "title", where, path),
                key_message=_text(item, "key_message", where, path),
                link=_text(item, "link", where, path),
                call_to_action=_text(item, "call_to_action", where, path),
                facts=facts,
                hashtags=tuple(str(h).lstrip("#") for h in item.get("hashtags") or []),
            )
        )
    if not themes:
        raise BriefError(f"{path}: 'themes' is empty; the brief needs at least one theme")
    framing = {str(k): str(v) for k, v in (raw.get("framing") or {}).items()}
    return Brief(edition=inside, themes=tuple(themes), framing=framing)


def tracked_link(url: str, *, channel: str, edition: date, content: str) -> str:
    """Add UTM parameters (no personal data) to a link."""
    parts = urlsplit(url)
    query = urlencode(
        {"utm_source": "matinale", "utm_medium": channel, "utm_campaign": edition.isoformat(), "utm_content": content}
    )
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


@cache
def _environment(templates_dir: Path, autoescape: bool) -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=FileSystemLoader(templates_dir / "posts"),
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(templates_dir: Path, name: str, context: dict[str, Any], *, html: bool = False) -> str:
    from jinja2 import TemplateError

    try:
        template = _environment(templates_dir, html).get_template(name)
        return template.render(**context).strip()
    except TemplateError as exc:
        raise ContentError(f"template {name}: {exc}") from exc


def render_segment_posts(
    segment: dict[str, Any],
    brief: Brief,
    *,
    campaign: Any,
    channels: tuple[str, ...],
    templates_dir: Path,
) -> list[dict[str, Any]]:
    """Every post for one segment: one entry per theme × channel."""
    posts: list[dict[str, Any]] = []
    framing = brief.framing.get(segment["band"], "")
    for theme in brief.themes:
        for channel in channels:
            link = tracked_link(theme.link, channel=channel, edition=brief.edition, content=f"{segment['id']}-1")
            context = {
                "theme": asdict(theme),
                "framing": framing,
                "segment": segment,
                "campaign": asdict(campaign),
                "link": link,
                "hashtags": " ".join(f"#{h}" for h in theme.hashtags),
            }
            try:
                if channel == "email":
                    entry = {part: _render(templates_dir, f"email.{part}.j2", context, html=part == "html") for part in _EMAIL_PARTS}
                    text = entry["txt"]
                else:
                    entry = {}
                    text = _render(templates_dir, f"{channel}.j2", context)
            except ContentError as exc:
                raise ContentError(f"segment {segment['id']}, channel {channel}, theme {theme.id}: {exc}") from exc
            posts.append({"theme": theme.id, "channel": channel, "variant": 1, "text": text, "length": len(text), "link": link, **entry})
    return posts
