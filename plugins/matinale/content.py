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
"""

from __future__ import annotations

import difflib
import html as _html
import os
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache, lru_cache
from itertools import combinations, product
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml

from matinale import typography
from matinale.typography import URL_PATTERN, Style

__all__ = [
    "CHANNELS",
    "DIRECT_CHANNELS",
    "Brief",
    "BriefError",
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
    "jaccard",
    "content_workers",
    "load_brief",
    "load_rules",
    "posts_markdown",
    "render_segment_posts",
    "segment_files",
    "shingles",
    "tracked_link",
    "write_segments",
]

CHANNELS: tuple[str, ...] = ("x", "facebook", "instagram", "whatsapp", "sms", "email")
DIRECT_CHANNELS = frozenset({"sms", "email"})

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_HASHTAG = re.compile(r"^\w{1,60}$")
_HASHTAG_IN_TEXT = re.compile(r"(?<![&\w])#\w+")
_HREF = re.compile(r"""href\s*=\s*(["'])(.*?)\1""", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s")
_HOST_END = re.compile(r"[/?#]")
_STYLE: dict[str, Style] = {"sms": "sms"}
_SHORTEN_STEPS = ("hashtags", "secondary_facts", "facts", "compact", "minimal")


# --------------------------------------------------------------------------- errors


class BriefError(ValueError):
    """The brief is wrong: the message names the file, the line and the field."""


class RulesError(ValueError):
    """A file of ``content_templates/`` is wrong: the message names file, line and key."""


class ContentError(RuntimeError):
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


# ------------------------------------------------------------------ YAML with lines


class _Doc:
    """A YAML file's data with the line of every key and item, for errors users can act on."""

    def __init__(self, path: Path, text: str, error: type[ValueError]) -> None:
        self.path = path
        self.error = error
        self.lines: dict[tuple[str | int, ...], int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark is not None else ""
            raise error(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple[str | int, ...]) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    self.fail(path + (key,), f"'{key}' appears twice; keep one", line=key_node.start_mark.line + 1)
                seen.add(key)
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                self._walk(value_node, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, path + (index,))

    def line(self, path: Sequence[str | int]) -> int | None:
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def fail(self, path: Sequence[str | int], message: str, *, line: int | None = None) -> NoReturn:
        line = line or self.line(path)
        where = f", line {line}" if line else ""
        raise self.error(f"{self.path}{where}: {_dotted(path) or 'the file'}: {message}")

    def mapping(self, value: Any, path: Sequence[str | int], allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping of {', '.join(sorted(allowed))}; got {_kind(value)}")
        allowed = set(allowed)
        for key in value:
            if str(key) not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; allowed keys: {', '.join(sorted(allowed))}"
                self.fail((*path, str(key)), f"unknown key '{key}'{hint}")
        for key in required:
            if key not in value or value[key] is None:
                self.fail(path, f"'{key}' is required")
        return {str(k): v for k, v in value.items()}

    def text(self, value: Any, path: Sequence[str | int], *, max_length: int | None = None) -> str:
        if not isinstance(value, str):
            hint = " (YAML reads yes/no/on/off/true/false as booleans: put the text in quotes)" if isinstance(value, bool) else ""
            self.fail(path, f"must be text; got {_kind(value)}{hint}")
        text = " ".join(value.split())  # folded YAML and stray newlines: one line of text
        if not text:
            self.fail(path, "must not be empty")
        for position, char in enumerate(text):
            if unicodedata.category(char) in {"Cc", "Co", "Cs"}:
                self.fail(path, f"holds an invisible control or private character U+{ord(char):04X} at position {position}; retype the text")
        if max_length is not None and len(text) > max_length:
            self.fail(path, f"is {len(text)} characters long; at most {max_length}")
        return text


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}.get(
        type(value), "nothing" if value is None else type(value).__name__
    )


# -------------------------------------------------------------------------- links


def _link_problem(url: str, allowed_domains: Sequence[str] | None) -> str | None:
    """Why ``url`` may not appear in a post, or None."""
    if not url.startswith("https://"):
        return f"{url!r} must start with https://"
    if _SPACE.search(url):
        return f"{url!r} holds spaces"
    if not url.isascii():
        return f"{url!r} holds non-ASCII characters; percent-encode them (é → %C3%A9)"
    host = _HOST_END.split(url[8:], maxsplit=1)[0]
    if not host or "@" in host:
        return f"{url!r} needs a host name and no user or password"
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if allowed_domains is not None and host.lower() not in _domain_set(tuple(allowed_domains)):
        return f"{url!r}: domain {host} is not in links.allowed_domains of campaign.yaml ({', '.join(allowed_domains)})"
    return None


@lru_cache(maxsize=1024)
def _cached_link_problem(url: str, allowed_domains: tuple[str, ...] | None) -> str | None:
    return _link_problem(url, allowed_domains)


@cache
def _domain_set(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(d.lower() for d in domains)


@lru_cache(maxsize=1024)
def _link_base(url: str) -> tuple[str, str, str]:
    """``url`` without fragment and utm_* parameters, the separator for more, the fragment."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")]
    base = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return base, "&" if query else "?", fragment


def tracked_link(
    url: str,
    *,
    channel: str,
    edition: date,
    content: str,
    allowed_domains: Sequence[str] | None = None,
) -> str:
    """``url`` with UTM parameters that name channel, edition and segment-variant, nothing personal.

    ``channel`` is the medium (a channel, or ``card`` for QR codes on cards); ``content`` is
    ``<segment>-<variant>``. utm_* parameters already in ``url`` are replaced. With
    ``allowed_domains``, a link that is not https on one of them raises :class:`LinkError`.
    """
    for name, value in (("channel", channel), ("content", content)):
        if not _SLUG.match(value):
            raise LinkError(f"tracking {name} {value!r} must be a slug (a-z, 0-9, '-')")
    problem = _cached_link_problem(url, None if allowed_domains is None else tuple(allowed_domains))
    if problem:
        raise LinkError(problem)
    base, separator, fragment = _link_base(url)
    # channel, edition and content are slugs: nothing to percent-encode.
    return (
        f"{base}{separator}utm_source=matinale&utm_medium={channel}"
        f"&utm_campaign={edition.isoformat()}&utm_content={content}{fragment}"
    )


# -------------------------------------------------------------------------- brief


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
    calls_to_action: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.calls_to_action:
            object.__setattr__(self, "calls_to_action", (self.call_to_action,))


@dataclass(frozen=True)
class Brief:
    edition: date
    themes: tuple[Theme, ...]
    framing: dict[str, str] = field(default_factory=dict)


_BRIEF_KEYS = ("edition", "themes", "framing")
_THEME_KEYS = ("id", "title", "key_message", "facts", "link", "hashtags", "call_to_action")
_THEME_REQUIRED = ("id", "title", "key_message", "link", "call_to_action")


def _brief_text(doc: _Doc, value: Any, path: tuple[str | int, ...], *, max_length: int | None = None) -> str:
    text = doc.text(value, path, max_length=max_length)
    if URL_PATTERN.search(text):
        doc.fail(path, "holds a link; put links in 'link' or in a fact's 'source', where they are checked and tracked")
    return text


def _brief_url(doc: _Doc, value: Any, path: tuple[str | int, ...], allowed_domains: Sequence[str] | None) -> str:
    url = doc.text(value, path)
    problem = _link_problem(url, allowed_domains)
    if problem:
        doc.fail(path, problem)
    return url


def _theme(doc: _Doc, item: Any, where: tuple[str | int, ...], allowed_domains: Sequence[str] | None) -> Theme:
    item = doc.mapping(item, where, _THEME_KEYS, _THEME_REQUIRED)
    theme_id = doc.text(item["id"], (*where, "id"))
    if not _SLUG.match(theme_id):
        doc.fail((*where, "id"), f"{theme_id!r} must be a slug (a-z, 0-9, '-'), e.g. pouvoir-achat")
    facts_raw = item.get("facts") or []
    if not isinstance(facts_raw, list):
        doc.fail((*where, "facts"), f"must be a list of {{text, source}}; got {_kind(facts_raw)}")
    facts = []
    for index, raw in enumerate(facts_raw):
        at = (*where, "facts", index)
        raw = doc.mapping(raw, at, ("text", "source"), ("text", "source"))
        facts.append(Fact(text=_brief_text(doc, raw["text"], (*at, "text"), max_length=280), source=_brief_url(doc, raw["source"], (*at, "source"), allowed_domains)))
    hashtags_raw = item.get("hashtags") or []
    if not isinstance(hashtags_raw, list):
        doc.fail((*where, "hashtags"), f"must be a list such as [PouvoirDAchat, EnsembleDemain]; got {_kind(hashtags_raw)}")
    hashtags = []
    for index, raw in enumerate(hashtags_raw):
        tag = str(raw).strip().lstrip("#") if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
        if not _HASHTAG.match(tag):
            doc.fail((*where, "hashtags", index), f"{raw!r} is not a hashtag: letters, digits and _ only, no space")
        hashtags.append(tag)
    title = _brief_text(doc, item["title"], (*where, "title"), max_length=80)
    if len(typography.fix(title, "social")) > 80:  # « » and their spaces count in a subject
        doc.fail((*where, "title"), f"is {len(typography.fix(title, 'social'))} characters once written in French typography; at most 80 (it is the e-mail subject)")
    calls = tuple(_brief_text(doc, cta, path, max_length=120) for cta, path in _each(doc, item["call_to_action"], (*where, "call_to_action")))
    return Theme(
        id=theme_id,
        title=title,
        key_message=_brief_text(doc, item["key_message"], (*where, "key_message"), max_length=250),
        link=_brief_url(doc, item["link"], (*where, "link"), allowed_domains),
        call_to_action=calls[0],
        facts=tuple(facts),
        hashtags=tuple(dict.fromkeys(hashtags, None)),
        calls_to_action=tuple(dict.fromkeys(calls)),
    )


def _each(doc: _Doc, value: Any, path: tuple[str | int, ...]) -> list[tuple[Any, tuple[str | int, ...]]]:
    """A text or a list of texts, each with its own path (alternatives for variants)."""
    if isinstance(value, list):
        if not value or len(value) > 10:
            doc.fail(path, "must be a text or a list of 1 to 10 texts")
        return [(item, (*path, index)) for index, item in enumerate(value)]
    return [(value, path)]


def load_brief(path: Path, edition: date | None = None, *, allowed_domains: Sequence[str] | None = None) -> Brief:
    """Read and validate a brief; ``edition`` (if given) must match the date inside.

    With ``allowed_domains`` (``Settings.allowed_domains``), every link and source must be
    https on one of them. Errors name the file, the line and the field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BriefError(f"{path}: no brief for this edition; staff must write it before the cut-off") from exc
    except UnicodeDecodeError as exc:
        raise BriefError(f"{path}: not UTF-8 text (byte {exc.start}); save the brief as UTF-8") from exc
    doc = _Doc(path, text, BriefError)
    raw = doc.mapping(doc.data, (), _BRIEF_KEYS, ("edition", "themes"))
    inside = raw["edition"]
    if isinstance(inside, str):
        try:
            inside = date.fromisoformat(inside)
        except ValueError:
            pass
    if not isinstance(inside, date):
        doc.fail(("edition",), f"must be a date such as 2026-11-24; got {raw['edition']!r}")
    if edition is not None and inside != edition:
        doc.fail(("edition",), f"{inside} inside does not match the expected {edition}: is this yesterday's brief?")
    if not isinstance(raw["themes"], list) or not raw["themes"]:
        doc.fail(("themes",), "must be a non-empty list of themes; the brief needs at least one theme")
    themes = [_theme(doc, item, ("themes", index), allowed_domains) for index, item in enumerate(raw["themes"])]
    seen: set[str] = set()
    for index, theme in enumerate(themes):
        if theme.id in seen:
            doc.fail(("themes", index, "id"), f"theme id {theme.id!r} is used twice; ids must be unique")
        seen.add(theme.id)
    framing_raw = raw.get("framing") or {}
    if not isinstance(framing_raw, dict):
        doc.fail(("framing",), f"must map an age band id (e.g. 65plus) to a sentence; got {_kind(framing_raw)}")
    framing = {}
    for key, value in framing_raw.items():
        if not _SLUG.match(str(key)):
            doc.fail(("framing", str(key)), f"{key!r} must be an age band, angle or segment id (a slug such as 65plus)")
        framing[str(key)] = _brief_text(doc, value, ("framing", str(key)), max_length=200)
    return Brief(edition=inside, themes=tuple(themes), framing=framing)


# -------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class _Angle:
    id: str
    label: str
    openers: tuple[str, ...]
    cta_intros: tuple[str, ...]
    hashtag_sets: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Rule:
    when: dict[str, tuple[str, ...]]
    angle: str


@dataclass(frozen=True)
class _ChannelRule:
    limit: int | None = None
    max_hashtags: int | None = None
    max_parts: int | None = None
    subject_limit: int | None = None
    threshold: float = 0.7
    min_distinct: int = 1


@dataclass(frozen=True)
class ContentRules:
    """``content_templates/framing.yaml`` and ``channels.yaml``, validated."""

    rules: tuple[_Rule, ...]
    angles: dict[str, _Angle]
    interests: dict[str, str]
    channels: dict[str, _ChannelRule]
    shorten: tuple[str, ...]
    shingle: int


_WHEN_KEYS = ("kind", "band", "framing", "profile", "interest", "top_interest", "theme")
_CHANNEL_KEYS = ("limit", "max_hashtags", "max_parts", "subject_limit", "threshold", "min_distinct")
# The platforms' own ceilings: channels.yaml may tighten them, never loosen them.
_PLATFORM_LIMITS = {"x": 280, "facebook": 63206, "instagram": 2200, "whatsapp": 65536}
_PLATFORM_CAPS = {("instagram", "max_hashtags"): 30, ("email", "subject_limit"): 200, ("sms", "max_parts"): 10}


def _load_framing(path: Path) -> tuple[tuple[_Rule, ...], dict[str, _Angle], dict[str, str]]:
    from jinja2 import TemplateSyntaxError

    doc = _Doc(path, path.read_text(encoding="utf-8"), RulesError)
    raw = doc.mapping(doc.data, (), ("rules", "angles", "interests"), ("angles",))
    angles_raw = raw["angles"]
    if not isinstance(angles_raw, dict) or not angles_raw:
        doc.fail(("angles",), "must map angle names to {label, openers, cta_intros, hashtags}")
    angles: dict[str, _Angle] = {}
    for key, body in angles_raw.items():
        name = str(key)
        at: tuple[str | int, ...] = ("angles", name)
        if not _SLUG.match(name):
            doc.fail(at, f"angle name {name!r} must be a slug")
        body = doc.mapping(body, at, ("label", "openers", "cta_intros", "hashtags"), ("label", "openers", "cta_intros"))
        openers = tuple(doc.text(t, p) for t, p in _each(doc, body["openers"], (*at, "openers")))
        for index, opener in enumerate(openers):
            try:
                _opener_template(opener)
            except TemplateSyntaxError as exc:
                doc.fail((*at, "openers", index), f"{exc.message}")
        intros = tuple(doc.text(t, p) for t, p in _each(doc, body["cta_intros"], (*at, "cta_intros")))
        sets_raw = body.get("hashtags") or [[]]
        if not isinstance(sets_raw, list) or not all(isinstance(s, list) for s in sets_raw):
            doc.fail((*at, "hashtags"), "must be a list of hashtag sets, e.g. [[Voter], [JeVote, Citoyens]]")
        sets = []
        for i, tags in enumerate(sets_raw):
            for j, tag in enumerate(tags):
                if not isinstance(tag, str) or not _HASHTAG.match(tag.lstrip("#")):
                    doc.fail((*at, "hashtags", i, j), f"{tag!r} is not a hashtag: letters, digits and _ only")
            sets.append(tuple(t.lstrip("#") for t in tags))
        angles[name] = _Angle(name, doc.text(body["label"], (*at, "label")), openers, intros, tuple(sets))
    if "default" not in angles:
        doc.fail(("angles",), "needs a 'default' angle, used when no rule and no band framing applies")
    rules = []
    rules_raw = raw.get("rules") or []
    if not isinstance(rules_raw, list):
        doc.fail(("rules",), "must be a list of {when: {...}, angle: ...}")
    for index, item in enumerate(rules_raw):
        at = ("rules", index)
        item = doc.mapping(item, at, ("when", "angle"), ("angle",))
        when = doc.mapping(item.get("when") or {}, (*at, "when"), _WHEN_KEYS)
        angle = doc.text(item["angle"], (*at, "angle"))
        if angle not in angles:
            doc.fail((*at, "angle"), f"angle {angle!r} is not defined under 'angles' ({', '.join(sorted(angles))})")
        rules.append(_Rule({k: tuple(str(v) for v in (val if isinstance(val, list) else [val])) for k, val in when.items()}, angle))
    interests_raw = raw.get("interests") or {}
    if not isinstance(interests_raw, dict):
        doc.fail(("interests",), "must map an interest (e.g. sante) to its French words (la santé)")
    interests = {str(k): doc.text(v, ("interests", str(k))) for k, v in interests_raw.items()}
    return tuple(rules), angles, interests


def _positive_int(doc: _Doc, value: Any, path: tuple[str | int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        doc.fail(path, f"must be a whole number ≥ 1; got {value!r}")
    return value


def _load_channels(path: Path) -> tuple[dict[str, _ChannelRule], tuple[str, ...], int]:
    doc = _Doc(path, path.read_text(encoding="utf-8"), RulesError)
    raw = doc.mapping(doc.data, (), ("channels", "shorten", "variants"), ("channels",))
    variants = doc.mapping(raw.get("variants") or {}, ("variants",), ("shingle", "threshold", "min_distinct"))
    shingle = _positive_int(doc, variants.get("shingle", 5), ("variants", "shingle"))
    default_threshold = variants.get("threshold", 0.7)
    default_min = variants.get("min_distinct", 1)
    channels_raw = doc.mapping(raw["channels"], ("channels",), CHANNELS)
    channels = {}
    for name in CHANNELS:
        at = ("channels", name)
        body = doc.mapping(channels_raw.get(name) or {}, at, _CHANNEL_KEYS)
        values: dict[str, Any] = {}
        for key in ("limit", "max_hashtags", "max_parts", "subject_limit", "min_distinct"):
            if key in body:
                values[key] = _positive_int(doc, body[key], (*at, key))
        if "limit" in values and values["limit"] > _PLATFORM_LIMITS.get(name, values["limit"]):
            doc.fail((*at, "limit"), f"{values['limit']} is over {name}'s own limit of {_PLATFORM_LIMITS[name]}")
        for (channel, key), cap in _PLATFORM_CAPS.items():
            if channel == name and values.get(key, 0) > cap:
                doc.fail((*at, key), f"{values[key]} is over the ceiling of {cap}")
        values.setdefault("limit", _PLATFORM_LIMITS.get(name))
        values.setdefault("max_parts", 2 if name == "sms" else None)
        values.setdefault("subject_limit", 80 if name == "email" else None)
        values.setdefault("min_distinct", default_min)
        threshold = body.get("threshold", default_threshold)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
            doc.fail((*at, "threshold") if "threshold" in body else ("variants", "threshold"), f"must be a similarity in (0, 1]; got {threshold!r}")
        channels[name] = _ChannelRule(threshold=float(threshold), **values)
    shorten = raw.get("shorten") or list(_SHORTEN_STEPS)
    if not isinstance(shorten, list):
        doc.fail(("shorten",), f"must be a list of steps among {', '.join(_SHORTEN_STEPS)}")
    for index, step in enumerate(shorten):
        if step not in _SHORTEN_STEPS:
            doc.fail(("shorten", index), f"unknown step {step!r}; use {', '.join(_SHORTEN_STEPS)}")
    return channels, tuple(shorten), shingle


@cache
def load_rules(templates_dir: Path) -> ContentRules:
    """The framing rules and channel rules of ``templates_dir`` (read once per process)."""
    templates_dir = Path(templates_dir)
    for name in ("framing.yaml", "channels.yaml"):
        if not (templates_dir / name).is_file():
            raise RulesError(f"{templates_dir / name}: missing; it ships with the project (git checkout it)")
    rules, angles, interests = _load_framing(templates_dir / "framing.yaml")
    channels, shorten, shingle = _load_channels(templates_dir / "channels.yaml")
    return ContentRules(rules=rules, angles=angles, interests=interests, channels=channels, shorten=shorten, shingle=shingle)


def _segment_facts(segment: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    interests = tuple(str(i) for i in segment.get("top_interests") or ())
    return {
        "kind": (str(segment.get("kind") or "main"),),
        "band": (str(segment.get("band")),) if segment.get("band") else (),
        "framing": (str(segment.get("framing")),) if segment.get("framing") else (),
        "profile": (str(segment.get("profile")),) if segment.get("profile") else (),
        "interest": interests,
        "top_interest": interests[:1],
        "theme": (str(segment.get("theme")),) if segment.get("theme") else (),
    }


def _choose_angle(segment: Mapping[str, Any], rules: ContentRules) -> str:
    facts = _segment_facts(segment)
    for rule in rules.rules:
        if all(set(values) & set(facts[key]) for key, values in rule.when.items()):
            return rule.angle
    hint = segment.get("framing")
    return hint if hint in rules.angles else "default"


# ---------------------------------------------------------------------- rendering


def _finalize(value: Any) -> Any:
    return "" if value is None else value


class _Data(SimpleNamespace):
    """Data for templates: plain attributes (text, numbers, lists, other _Data), no methods."""


@cache
def _environment(templates_dir: Path, autoescape: bool) -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined, pass_context
    from jinja2.sandbox import SandboxedEnvironment

    class Sandbox(SandboxedEnvironment):
        def getattr(self, obj: Any, attribute: str) -> Any:
            # {{ theme.title }} on our own data: a dictionary lookup. Everything else (and
            # any name starting with _) goes through the sandbox's full checks.
            if type(obj) is _Data and not attribute.startswith("_"):
                try:
                    return obj.__dict__[attribute]
                except KeyError:
                    pass
            return super().getattr(obj, attribute)

    env = Sandbox(
        loader=FileSystemLoader(Path(templates_dir) / "posts"),
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates do not change during a night: no stat per render
        finalize=_finalize,
    )

    @pass_context
    def track(context: Any, url: str) -> str:
        """``{{ campaign.website | track }}``: any other link a template prints, tracked."""
        return context["_track"](url)

    env.filters["track"] = track
    return env


@cache
def _opener_template(source: str) -> Any:
    """An opener of framing.yaml: reviewed text that may name ``territory`` or ``interest``.

    Compiled in the same sandbox as the post templates; brief text never goes this way.
    """
    return _environment(Path(__file__).parent, False).from_string(source)


def _template(templates_dir: Path, name: str, autoescape: bool = False) -> Any:
    from jinja2 import TemplateNotFound, TemplateSyntaxError

    try:
        return _environment(templates_dir, autoescape).get_template(name)
    except TemplateNotFound as exc:
        raise RulesError(f"{templates_dir / 'posts' / name}: template missing; every channel needs one") from exc
    except TemplateSyntaxError as exc:
        raise RulesError(f"{templates_dir / 'posts' / name}, line {exc.lineno}: {exc.message}") from exc


# What each shortening step changes in the context, to skip steps a template ignores.
_STEP_VARIABLES = {
    "hashtags": frozenset({"hashtags", "hashtag_list"}),
    "secondary_facts": frozenset({"facts"}),
    "facts": frozenset({"facts"}),
    "compact": frozenset({"compact"}),
    "minimal": frozenset({"minimal", "compact"}),
}


@cache
def _template_variables(templates_dir: Path, channel: str) -> frozenset[str]:
    """Every context variable the templates of ``channel`` read."""
    from jinja2 import meta

    names = ["email.subject.j2", "email.txt.j2", "email.html.j2"] if channel == "email" else [f"{channel}.j2"]
    env = _environment(templates_dir, False)
    used: set[str] = set()
    for name in names:
        _template(templates_dir, name, name.endswith(".html.j2"))  # a clear error if missing
        source = env.loader.get_source(env, name)[0]
        used |= meta.find_undeclared_variables(env.parse(source))
    return frozenset(used)


@cache
def _flat_globals(template: Any) -> dict[str, Any]:
    """The template's globals (a ChainMap over the environment's) as one plain dict."""
    return dict(template.globals)


def _render(template: Any, context: dict[str, Any]) -> str:
    """``template.render(context)``, without copying the globals' ChainMap at every render.

    ``Template.render`` builds its context with ``dict(globals, **vars)`` and
    ``set(globals)`` over a ChainMap, in Python, at every call: half the cost of rendering
    a short post. The same context is built here from the globals flattened once.
    """
    from jinja2 import TemplateError
    from jinja2.runtime import new_context

    flat = _flat_globals(template)
    environment = template.environment
    try:
        ctx = new_context(environment, template.name, template.blocks, {**flat, **context}, True, flat)
        try:
            return environment.concat(template.root_render_func(ctx))
        except Exception:
            environment.handle_exception()  # what Template.render does: re-raises, template lines in the traceback
    except TemplateError as exc:
        # Names the template and the problem (e.g. an undefined variable); never data.
        raise ContentError(f"template {template.name}: {exc}") from exc


# ---------------------------------------------------------------- similarity


def shingles(text: str, size: int = 5) -> frozenset[str]:
    """Character shingles of ``text``, line by line: lowercased, single-spaced, accents kept.

    Lines come back from post to post (the key message, a fact, an opener), so their
    shingles are computed once; a post's set is the union of its lines' sets.
    """
    lines = [_line_shingles(line, size) for line in text.split("\n") if line.strip()]
    return frozenset().union(*lines) if lines else frozenset()


@lru_cache(maxsize=16384)
def _line_shingles(line: str, size: int) -> frozenset[str]:
    line = " ".join(line.lower().split())
    if len(line) <= size:
        return frozenset((line,))
    # zip over shifted copies: about twice as fast as slicing at every position.
    return frozenset(map("".join, zip(*(line[i:] for i in range(size)), strict=False)))


@lru_cache(maxsize=1 << 15)
def _signature(bare: str, mentions: tuple[str, ...], size: int) -> frozenset[str]:
    """The shingles of a post's text without links (``bare``) and without its fixed mentions.

    Texts without links repeat from segment to segment: each is cut once.
    """
    for mention in mentions:
        bare = bare.replace(mention, " ")
    return shingles(bare, size)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|: 1.0 for the same text, near 0 for unrelated texts."""
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


# ------------------------------------------------------------------------ posts


@dataclass
class SegmentPosts:
    """Everything made for one segment: what posts.json and posts.md hold."""

    segment: str
    edition: date
    angle: str
    themes: list[str]
    posts: list[dict[str, Any]]
    similarity: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "edition": self.edition.isoformat(),
            "angle": self.angle,
            "themes": self.themes,
            "posts": self.posts,
            "similarity": self.similarity,
        }


@dataclass(frozen=True)
class _Choice:
    opener: str
    cta: str
    cta_intro: str
    hashtags: tuple[str, ...]


# Direct messages: (what the mention is, its key in Settings.campaign).
_MENTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "sms": (("sender", "name"), ("why you receive it", "why_you_receive"), ("how to object", "how_to_object"), ("free opt-out", "sms_stop")),
    "email": (("sender", "sender_name"), ("why you receive it", "why_you_receive"), ("how to object", "how_to_object"), ("unsubscribe link", "unsubscribe_url")),
}
_COMBINING = re.compile("[\u0300-\u036f]")


@lru_cache(maxsize=8192)
def _loose(text: str) -> str:
    """Text compared for mentions: no accents, case or typography, single spaces."""
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", typography.to_gsm7(text)))
    return " ".join(text.casefold().replace('"', " ").split())


@lru_cache(maxsize=8192)
def _html_text(markup: str) -> str:
    return _html.unescape(_TAGS.sub(" ", markup))


@lru_cache(maxsize=1024)
def _site(url: str) -> str:
    """``insee.fr`` for https://www.insee.fr/…: a source named without being a link."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def _rotate_hashtags(theme_tags: Sequence[str], extra: Sequence[str], shift: int) -> tuple[str, ...]:
    """The theme's hashtags in a rotated order, then the angle's set; duplicates dropped."""
    tags = list(theme_tags)
    if tags:
        shift %= len(tags)
        tags = tags[shift:] + tags[:shift]
    seen: dict[str, str] = {}
    for tag in [*tags, *extra]:
        seen.setdefault(tag.casefold(), tag)
    return tuple(seen.values())


def _namespace(**values: Any) -> _Data:
    # Objects, not dicts, in the template context: the sandbox resolves attributes without
    # raising and catching an AttributeError for every {{ theme.title }}.
    return _Data(**values)


class PostWriter:
    """Writes the posts of many segments for one brief: templates and rules loaded once.

    ``writer.segment(segment)`` renders, fits and checks every post of one segment;
    :func:`render_segment_posts` is the one-segment shortcut.
    """

    @classmethod
    def from_settings(cls, brief: Brief, settings: Any) -> PostWriter:
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
        campaign: Any,
        channels: Sequence[str],
        templates_dir: Path,
        variants: int = 3,
        allowed_domains: Sequence[str] | None = None,
    ) -> None:
        unknown = sorted(set(channels) - set(CHANNELS))
        if unknown:
            raise ContentError(f"unknown channel(s) {unknown}; use {list(CHANNELS)}")
        if variants < 1:
            raise ContentError(f"content.variants = {variants} in campaign.yaml; it must be ≥ 1")
        self.brief = brief
        self.edition = brief.edition
        self.channels = tuple(channels)
        self.templates_dir = Path(templates_dir)
        self.variants = variants
        self.allowed = tuple(allowed_domains) if allowed_domains is not None else None
        self.rules = load_rules(self.templates_dir)
        self.campaign = asdict(campaign) if not isinstance(campaign, dict) else dict(campaign)
        self.campaign_ns = _namespace(**self.campaign)
        self.unsubscribe = str(self.campaign.get("unsubscribe_url") or "")
        self._check_campaign()
        self.templates: dict[str, tuple[Any, ...]] = {
            channel: (
                (_template(self.templates_dir, "email.subject.j2"), _template(self.templates_dir, "email.txt.j2"), _template(self.templates_dir, "email.html.j2", True))
                if channel == "email"
                else (_template(self.templates_dir, f"{channel}.j2"),)
            )
            for channel in self.channels
        }
        self.used = {channel: _template_variables(self.templates_dir, channel) for channel in self.channels}
        for theme in brief.themes:
            for url in (theme.link, *(f.source for f in theme.facts)):
                problem = _link_problem(url, self.allowed)
                if problem:
                    raise LinkError(f"brief, theme {theme.id}: {problem}")
        # The mandatory mentions as they read once typography has run, to leave them out
        # of the similarity of direct messages.
        self.fixed_mentions = {
            channel: tuple(
                typography.fix(str(self.campaign.get(key) or ""), _STYLE.get(channel, "social"))
                for _, key in _MENTIONS[channel]
                if self.campaign.get(key) and not URL_PATTERN.fullmatch(str(self.campaign[key]))
            )
            for channel in DIRECT_CHANNELS
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
        }

    def _check_campaign(self) -> None:
        if not any(channel in DIRECT_CHANNELS for channel in self.channels):
            return
        for channel in DIRECT_CHANNELS & set(self.channels):
            for label, key in _MENTIONS[channel]:
                if not str(self.campaign.get(key) or "").strip():
                    raise MentionError(f"campaign.yaml: the {label} ({key}) is empty; {channel} messages must carry it")
        stop = str(self.campaign.get("sms_stop") or "")
        if "sms" in self.channels and "STOP" not in stop:
            raise MentionError(f"campaign.yaml: legal.sms_stop = {stop!r} must hold the keyword STOP (free SMS opt-out)")
        problem = _link_problem(self.unsubscribe, self.allowed)
        if "email" in self.channels and problem:
            raise LinkError(f"campaign.yaml: legal.unsubscribe_url: {problem}")

    def segment(self, segment: Mapping[str, Any]) -> SegmentPosts:
        """Every post for one segment: theme × channel × variant, rendered, fitted and checked."""
        return _SegmentMaker(self, segment).make()


class _SegmentMaker:
    """Renders and checks the posts of one segment; one instance per segment."""

    def __init__(self, writer: PostWriter, segment: Mapping[str, Any]) -> None:
        self.w = writer
        self.segment = segment
        self.segment_id = str(segment.get("id"))
        if not _SLUG.match(self.segment_id):
            raise ContentError(f"segment id {self.segment_id!r} is not a slug; segments.json is corrupt")
        rules = writer.rules
        self.angle = rules.angles[_choose_angle(segment, rules)]
        territory = segment.get("territory") or {}
        self.territory = (
            str(territory.get("name") or territory.get("label") or segment.get("label") or "")
            if segment.get("kind") == "territory"
            else ""
        )
        interests = [str(i) for i in segment.get("top_interests") or ()]
        self.interest = rules.interests.get(interests[0], interests[0].replace("-", " ")) if interests else ""
        framing = writer.brief.framing
        self.staff_line = next((framing[k] for k in (self.segment_id, segment.get("band"), self.angle.id) if k and k in framing), "")
        self.segment_ns = _namespace(
            id=self.segment_id,
            label=str(segment.get("label") or ""),
            band_label=str(segment.get("band_label") or ""),
            kind=str(segment.get("kind") or "main"),
            territory=self.territory,
            interest=self.interest,
        )
        context = {
            "territory": self.territory,
            "territory_level": str(territory.get("level") or ""),
            "interest": self.interest,
            "segment": self.segment_ns,
        }
        self.openers = tuple(" ".join(_render(_opener_template(o), context).split()) for o in self.angle.openers)
        self._bases: dict[tuple[str, str, int], tuple[dict[str, Any], frozenset[str]]] = {}

    # -- ordering and choices

    def theme_order(self) -> list[Theme]:
        """The local theme first for a territorial pack, else the segment's interests first."""
        hint = self.segment.get("theme")
        interests = [str(i) for i in self.segment.get("top_interests") or ()]

        def rank(item: tuple[int, Theme]) -> tuple[int, int]:
            index, theme = item
            if hint and theme.id == hint:
                return (0, index)
            if theme.id in interests:
                return (1, interests.index(theme.id))
            return (2, index)

        return [theme for _, theme in sorted(enumerate(self.w.brief.themes), key=rank)]

    def choices(self, theme: Theme, channel: str) -> Iterator[_Choice]:
        """Candidate ingredient sets, most different first, in an order fixed by the seed."""
        # A str seed is hashed with SHA-512, not hash(): the same order in every process and
        # every run, whatever PYTHONHASHSEED; another edition or segment gets another order.
        rng = random.Random(f"{self.segment_id}|{self.w.edition.isoformat()}|{theme.id}|{channel}")
        openers = list(self.openers)
        rng.shuffle(openers)
        if self.staff_line:
            # The staff's line of the day leads variant 1; the reviewed openers follow.
            openers.insert(0, self.staff_line)
        ctas = list(theme.calls_to_action)
        rng.shuffle(ctas)
        intros = list(self.angle.cta_intros)
        rng.shuffle(intros)
        sets = list(self.angle.hashtag_sets) or [()]
        rng.shuffle(sets)
        dims = (len(openers), len(ctas), len(intros), len(sets))

        def choice(k: int, combo: tuple[int, ...]) -> _Choice:
            o, c, i, h = combo
            return _Choice(openers[o], ctas[c], intros[i], _rotate_hashtags(theme.hashtags, sets[h], k))

        # The diagonal first: variant k takes the k-th of every list, so consecutive
        # variants differ in every ingredient while the lists last.
        diagonal = [tuple(k % n for n in dims) for k in range(max(dims))]
        for k, combo in enumerate(diagonal):
            yield choice(k, combo)
        # Only when the diagonal ran short (too similar): other combinations, a bounded few.
        seen = set(diagonal)
        rest = [combo for combo in product(*(range(n) for n in dims)) if combo not in seen]
        rng.shuffle(rest)
        for k, combo in enumerate(rest[: 2 * self.w.variants], start=len(diagonal)):
            yield choice(k, combo)

    # -- one post

    def _context(self, theme: Theme, channel: str, variant: int, choice: _Choice) -> tuple[dict[str, Any], set[str]]:
        """The template context of one post before shortening, and the links it may print."""
        content = f"{self.segment_id}-{variant}"
        edition = self.w.edition
        allowed = self.w.allowed
        base, tracked = self._variant_base(theme, channel, variant)
        links = set(tracked)

        def track(url: str) -> str:
            tracked = tracked_link(url, channel=channel, edition=edition, content=content, allowed_domains=allowed)
            links.add(tracked)
            return tracked

        context = {
            **base,
            "facts": list(base["facts"]),  # a list of this post's own: a template may not change another's
            "opener": choice.opener,
            "cta": choice.cta,
            "cta_intro": choice.cta_intro,
            "hashtag_list": list(choice.hashtags),
            "hashtags": " ".join(f"#{h}" for h in choice.hashtags),
            "_track": track,
        }
        return context, links

    def _variant_base(self, theme: Theme, channel: str, variant: int) -> tuple[dict[str, Any], frozenset[str]]:
        """What the context of every candidate for this variant shares, and its tracked links.

        A candidate rejected as too similar is followed by another for the same variant
        number: its links and facts are tracked once.
        """
        key = (theme.id, channel, variant)
        cached = self._bases.get(key)
        if cached is not None:
            return cached
        content = f"{self.segment_id}-{variant}"
        edition = self.w.edition
        allowed = self.w.allowed
        links: set[str] = set()

        def track(url: str) -> str:
            tracked = tracked_link(url, channel=channel, edition=edition, content=content, allowed_domains=allowed)
            links.add(tracked)
            return tracked

        link = track(theme.link)
        facts = tuple(_namespace(text=f.text, source=track(f.source), site=_site(f.source)) for f in theme.facts)
        local = bool(self.segment.get("theme")) and self.segment.get("theme") == theme.id
        base = {
            "campaign": self.w.campaign_ns,
            "segment": self.segment_ns,
            "angle": self.angle.id,
            "theme": _namespace(id=theme.id, title=theme.title, key_message=theme.key_message, local=local),
            "variant": variant,
            "link": link,
            "facts": facts,
            "compact": False,
            "minimal": False,
            "territory": self.territory,
            "interest": self.interest,
        }
        cached = self._bases[key] = (base, frozenset(links))
        return cached

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
        if channel == "email":
            parts = {
                "subject": typography.fix_checked(_render(templates[0], context), "social"),
                "text": typography.fix_checked(_render(templates[1], context), "social"),
                "html": typography.fix_checked(_render(templates[2], context), "html"),
            }
        else:
            parts = {"text": typography.fix_checked(_render(templates[0], context), _STYLE.get(channel, "social"))}
        return {**{name: fixed.text for name, fixed in parts.items()}, "_parts": parts}

    def _measure(self, channel: str, post: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The channel's length fields of ``post`` and, when it does not fit, why."""
        rule = self.w.rules.channels[channel]
        text = post["text"]
        length = typography.x_length(text) if channel == "x" else len(text)
        fields: dict[str, Any] = {"length": length}
        problem = None
        if rule.limit is not None and length > rule.limit:
            problem = f"{length} characters > {rule.limit}"
        if channel == "instagram" and rule.max_hashtags is not None:
            tags = len(_HASHTAG_IN_TEXT.findall(text))
            if tags > rule.max_hashtags:
                problem = f"{tags} hashtags > {rule.max_hashtags}"
        if channel == "sms":
            sms = typography.sms_count(text)
            fields.update(parts=sms.parts, encoding=sms.encoding, units=sms.units)
            if rule.max_parts is not None and sms.parts > rule.max_parts:
                problem = f"{sms.parts} parts of {sms.encoding} ({sms.units} units) > {rule.max_parts} parts"
        if channel == "email" and rule.subject_limit is not None and len(post["subject"]) > rule.subject_limit:
            problem = f"subject of {len(post['subject'])} characters > {rule.subject_limit}"
        return fields, problem

    def fitted(self, theme: Theme, channel: str, variant: int, choice: _Choice) -> tuple[dict[str, Any], set[str]]:
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
                entry = {"theme": theme.id, "channel": channel, "variant": variant, **post, **fields}
                entry["link"] = context["link"]
                entry["shortened"] = list(steps)
                return entry, links
        raise FitError(
            f"segment {self.segment_id}, channel {channel}, theme {theme.id}: does not fit ({problem}) even after "
            f"{', '.join(self.w.rules.shorten)}; shorten the theme's key message, call to action or link in the brief, "
            f"or the template content_templates/posts/{channel}*.j2"
        )

    # -- checks

    def _where(self, post: Mapping[str, Any]) -> str:
        return f"segment {self.segment_id}, channel {post['channel']}, theme {post['theme']}, variant {post['variant']}"

    def check(self, post: dict[str, Any], links: set[str], parts: Mapping[str, typography.Fixed]) -> None:
        """Typography, links and mandatory mentions of one rendered post."""
        channel = post["channel"]
        for name, fixed in parts.items():
            if fixed.issues:
                issues = fixed.issues
                raise TypographyError(f"{self._where(post)}: {name}: {issues[0]} ({len(issues)} problem(s)); fix the template")
            for url in fixed.links:
                url = url.replace("&amp;", "&") if name == "html" else url
                if url in links or url == self.w.unsubscribe:
                    continue
                problem = _link_problem(url, self.w.allowed) or (
                    f"{url!r} is not tracked for this post; print links from the context ({{{{ link }}}}, "
                    f"{{{{ fact.source }}}}) or through the 'track' filter"
                )
                raise LinkError(f"{self._where(post)}: {name}: {problem}")
            if channel in DIRECT_CHANNELS and name != "subject":
                self._check_mentions(post, name, fixed.bare, fixed.links, html=name == "html")

    def _check_mentions(self, post: Mapping[str, Any], part: str, bare: str, links: list[str], *, html: bool) -> None:
        loose = _loose(_html_text(bare) if html else bare)
        if html:
            # In HTML a link counts only as a real href, which is what a reader can click.
            links = [_html.unescape(m.group(2)) for m in _HREF.finditer(post["html"])]
        for label, key in _MENTIONS[post["channel"]]:
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
        bare = parts["text"].bare if channel != "email" else f"{parts['subject'].bare}\n{parts['text'].bare}"
        return _signature(bare, self.w.fixed_mentions.get(channel, ()), self.w.rules.shingle)

    def theme_channel(self, theme: Theme, channel: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
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
            for channel in self.w.channels:
                accepted, summary = self.theme_channel(theme, channel)
                posts.extend(accepted)
                similarity.append(summary)
        return SegmentPosts(self.segment_id, self.w.edition, self.angle.id, [t.id for t in themes], posts, similarity)


def render_segment_posts(
    segment: Mapping[str, Any],
    brief: Brief,
    *,
    campaign: Any,
    channels: Sequence[str],
    templates_dir: Path,
    variants: int = 3,
    allowed_domains: Sequence[str] | None = None,
) -> SegmentPosts:
    """Every post for one segment (see :class:`PostWriter` to write many segments)."""
    writer = PostWriter(
        brief, campaign=campaign, channels=channels, templates_dir=templates_dir, variants=variants, allowed_domains=allowed_domains
    )
    return writer.segment(segment)


# ----------------------------------------------------------------------- markdown

_CHANNEL_TITLES = {"x": "X", "facebook": "Facebook", "instagram": "Instagram", "whatsapp": "WhatsApp", "sms": "SMS", "email": "E-mail"}


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def posts_markdown(result: SegmentPosts, *, label: str = "", theme_titles: Mapping[str, str] | None = None, fmt_date: Callable[[date], str] = date.isoformat) -> str:
    """posts.md: the segment's posts, readable by a person, French headings."""
    titles = dict(theme_titles or {})
    lines = [f"# {label or result.segment} — édition du {fmt_date(result.edition)}", "", f"Angle : {result.angle}", ""]
    for theme_id in result.themes:
        lines += [f"## {titles.get(theme_id, theme_id)}", ""]
        for post in (p for p in result.posts if p["theme"] == theme_id):
            extra = f", {post['parts']} SMS ({post['encoding']})" if post["channel"] == "sms" else ""
            lines += [f"### {_CHANNEL_TITLES[post['channel']]} · variante {post['variant']} ({post['length']} caractères{extra})", ""]
            if post["channel"] == "email":
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
        lines.append(f"| {titles.get(item['theme'], item['theme'])} | {_CHANNEL_TITLES[item['channel']]} | {item['variants']} | {item['rejected']} | {' | '.join(values)} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ many segments, many cores

# Below this many segments per worker, a process costs more to start than it saves.
_MIN_SEGMENTS_PER_WORKER = 8


@dataclass(frozen=True)
class SegmentFiles:
    """One segment's posts.json and posts.md, and the counts a task's summary adds up."""

    segment: str
    posts_json: bytes
    posts_md: bytes
    posts: int
    shortened: int
    similarity: tuple[tuple[int, int, float], ...]  # (variants, rejected, max) per theme × channel


def segment_files(writer: PostWriter, segment: Mapping[str, Any], *, date_text: str) -> SegmentFiles:
    """Render one segment's posts and write its two files: posts.json as the store's put_json writes it."""
    from matinale.store import dumps

    result = writer.segment(segment)
    titles = {theme.id: theme.title for theme in writer.brief.themes}
    markdown = posts_markdown(result, label=str(segment.get("label") or result.segment), theme_titles=titles, fmt_date=lambda _day: date_text)
    return SegmentFiles(
        segment=result.segment,
        posts_json=dumps(result.to_json()).encode(),
        posts_md=markdown.encode("utf-8"),
        posts=len(result.posts),
        shortened=sum(1 for post in result.posts if post["shortened"]),
        similarity=tuple((item["variants"], item["rejected"], item["max"]) for item in result.similarity),
    )


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def content_workers(segments: int, requested: int | None = None) -> int:
    """Processes to write ``segments``, this one included.

    ``requested``, else ``MATINALE_CONTENT_WORKERS`` (a number; ``1`` turns the pool off),
    else the cores this task may use, fewer for small batches (the pool's start, about half
    a second, is only won back over enough segments). Measured at 200 segments on 2 cores:
    3.8–4.6 s with two processes against 5.5–6.5 s with one.
    """
    chosen = str(requested) if requested else os.environ.get("MATINALE_CONTENT_WORKERS", "").strip() or "cores"
    if chosen == "cores":
        return max(1, min(_available_cores(), segments // _MIN_SEGMENTS_PER_WORKER))
    return max(1, min(int(chosen), segments))


_WORKER: tuple[PostWriter, str] | None = None


def _init_worker(spec: dict[str, Any], date_text: str) -> None:
    """Make the writer once per worker: rules read and templates compiled here, not per segment."""
    global _WORKER
    _WORKER = (PostWriter(**spec), date_text)


def _files_chunk(segments: Sequence[Mapping[str, Any]]) -> list[SegmentFiles]:
    assert _WORKER is not None, "worker used before _init_worker"
    writer, date_text = _WORKER
    return [segment_files(writer, segment, date_text=date_text) for segment in segments]


def _pool_context() -> Any:
    """Workers forked from a fresh server process that has imported Jinja2 and this module once.

    Not a plain fork: the parent may be an Airflow task process with threads and locks.
    Not spawn: each worker would import Jinja2 and YAML again.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["matinale.content", "matinale.store", "jinja2", "jinja2.sandbox", "yaml"])
    return context


def write_segments(
    writer: PostWriter, segments: Sequence[Mapping[str, Any]], *, date_text: str, workers: int | None = None
) -> Iterator[SegmentFiles]:
    """The files of every segment, written by this process and a pool of others, as they come.

    ``date_text`` is the edition as posts.md headings write it. ``workers`` counts the
    processes that write, this one included (see :func:`content_workers`). The writer is
    made (brief, rules and templates checked) by the caller, so a bad template fails once,
    before any process starts. A segment's files depend on that segment only: the bytes do
    not depend on the number of workers nor on which process wrote which segment; only the
    order in which files come back does.

    This process does not wait for the pool to start (a new interpreter importing Jinja2,
    about half a second): it writes segments from the front of the list while the pool,
    fed by a thread, takes runs from the back. Each process thus works on neighbouring
    segments (same bands, mostly the same angles), which its text caches serve best.
    """
    segments = list(segments)
    count = content_workers(len(segments), workers)
    if count <= 1:
        for segment in segments:
            yield segment_files(writer, segment, date_text=date_text)
        return

    import queue
    import threading
    from collections import deque

    size = max(1, -(-len(segments) // (count * _CHUNKS_PER_WORKER)))
    chunks = deque(segments[start : start + size] for start in range(0, len(segments), size))
    lock = threading.Lock()
    done: queue.SimpleQueue[tuple[list[SegmentFiles] | None, BaseException | None]] = queue.SimpleQueue()

    def take(*, back: bool) -> list[Mapping[str, Any]] | None:
        with lock:
            if not chunks:
                return None
            return chunks.pop() if back else chunks.popleft()

    def feed() -> None:
        """Keep the pool's workers busy with runs from the back; hand their files to ``done``."""
        from concurrent.futures import ProcessPoolExecutor

        try:
            pool = ProcessPoolExecutor(max_workers=count - 1, mp_context=_pool_context(), initializer=_init_worker, initargs=(writer.spec(), date_text))
            try:
                window: deque[Any] = deque()
                while True:
                    while len(window) < 2 * (count - 1) and (chunk := take(back=True)) is not None:
                        window.append(pool.submit(_files_chunk, chunk))
                    if not window:
                        break
                    done.put((window.popleft().result(), None))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        except BaseException as exc:  # handed to the caller's thread, raised there
            done.put((None, exc))
        finally:
            done.put((None, None))  # the feeder has finished

    def collect(*, wait: bool) -> Iterator[SegmentFiles]:
        nonlocal feeding
        while feeding:
            try:
                files, error = done.get(block=wait)
            except queue.Empty:
                return
            if error is not None:
                raise error
            if files is None:
                feeding = False
                return
            yield from files

    feeding = True
    feeder = threading.Thread(target=feed, name="matinale-content-pool", daemon=True)
    feeder.start()
    try:
        while (chunk := take(back=False)) is not None:
            for segment in chunk:
                yield segment_files(writer, segment, date_text=date_text)
            yield from collect(wait=False)
        yield from collect(wait=True)
    finally:
        with lock:
            chunks.clear()  # on an error here, the pool gets nothing more
        feeder.join()


_CHUNKS_PER_WORKER = 8
