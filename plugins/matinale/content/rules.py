"""Framing rules and angles (framing.yaml), variant ingredients, and near-duplicate measures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from matinale.content.channels import _ChannelRule, _load_channels
from matinale.content.errors import RulesError
from matinale.content.render import _opener_template
from matinale.content.yamldoc import _HASHTAG, _SLUG, _Doc, _each


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
class ContentRules:
    """``content_templates/framing.yaml`` and ``channels.yaml``, validated."""

    rules: tuple[_Rule, ...]
    angles: dict[str, _Angle]
    interests: dict[str, str]
    channels: dict[str, _ChannelRule]
    shorten: tuple[str, ...]
    shingle: int


_WHEN_KEYS = ("kind", "band", "framing", "profile", "interest", "top_interest", "theme")


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
        body = doc.mapping(
            body,
            at,
            ("label", "openers", "cta_intros", "hashtags"),
            ("label", "openers", "cta_intros"),
        )
        openers = tuple(doc.text(t, p) for t, p in _each(doc, body["openers"], (*at, "openers")))
        for index, opener in enumerate(openers):
            try:
                _opener_template(opener)
            except TemplateSyntaxError as exc:
                doc.fail((*at, "openers", index), f"{exc.message}")
        intros = tuple(
            doc.text(t, p) for t, p in _each(doc, body["cta_intros"], (*at, "cta_intros"))
        )
        sets_raw = body.get("hashtags") or [[]]
        if not isinstance(sets_raw, list) or not all(isinstance(s, list) for s in sets_raw):
            doc.fail(
                (*at, "hashtags"),
                "must be a list of hashtag sets, e.g. [[Voter], [JeVote, Citoyens]]",
            )
        sets = []
        for i, tags in enumerate(sets_raw):
            for j, tag in enumerate(tags):
                if not isinstance(tag, str) or not _HASHTAG.match(tag.lstrip("#")):
                    doc.fail(
                        (*at, "hashtags", i, j),
                        f"{tag!r} is not a hashtag: letters, digits and _ only",
                    )
            sets.append(tuple(t.lstrip("#") for t in tags))
        angles[name] = _Angle(
            name, doc.text(body["label"], (*at, "label")), openers, intros, tuple(sets)
        )
    if "default" not in angles:
        doc.fail(
            ("angles",), "needs a 'default' angle, used when no rule and no band framing applies"
        )
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
            doc.fail(
                (*at, "angle"),
                f"angle {angle!r} is not defined under 'angles' ({', '.join(sorted(angles))})",
            )
        rules.append(
            _Rule(
                {
                    k: tuple(str(v) for v in (val if isinstance(val, list) else [val]))
                    for k, val in when.items()
                },
                angle,
            )
        )
    interests_raw = raw.get("interests") or {}
    if not isinstance(interests_raw, dict):
        doc.fail(("interests",), "must map an interest (e.g. sante) to its French words (la santé)")
    interests = {str(k): doc.text(v, ("interests", str(k))) for k, v in interests_raw.items()}
    return tuple(rules), angles, interests


@cache
def load_rules(templates_dir: Path) -> ContentRules:
    """The framing rules and channel rules of ``templates_dir`` (read once per process)."""
    templates_dir = Path(templates_dir)
    for name in ("framing.yaml", "channels.yaml"):
        if not (templates_dir / name).is_file():
            raise RulesError(
                f"{templates_dir / name}: missing; it ships with the project (git checkout it)"
            )
    rules, angles, interests = _load_framing(templates_dir / "framing.yaml")
    channels, shorten, shingle = _load_channels(templates_dir / "channels.yaml")
    return ContentRules(
        rules=rules,
        angles=angles,
        interests=interests,
        channels=channels,
        shorten=shorten,
        shingle=shingle,
    )


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


@dataclass(frozen=True)
class _Choice:
    opener: str
    cta: str
    cta_intro: str
    hashtags: tuple[str, ...]


def _rotate_hashtags(
    theme_tags: Sequence[str], extra: Sequence[str], shift: int
) -> tuple[str, ...]:
    """The theme's hashtags in a rotated order, then the angle's set; duplicates dropped."""
    tags = list(theme_tags)
    if tags:
        shift %= len(tags)
        tags = tags[shift:] + tags[:shift]
    seen: dict[str, str] = {}
    for tag in [*tags, *extra]:
        seen.setdefault(tag.casefold(), tag)
    return tuple(seen.values())


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
