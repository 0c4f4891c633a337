"""Framing rules and angles (framing.yaml), variant ingredients, and near-duplicate measures.

``framing.yaml`` is read by :func:`matinale.yamlfile.load_yaml` and validated by
:class:`FramingFile` (JSON Schema ``matinale/schemas/framing.schema.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainValidator, WithJsonSchema, field_validator

from matinale.content.channels import _ChannelRule, _load_channels
from matinale.content.errors import RulesError
from matinale.content.render import _opener_template
from matinale.schemas.fields import (
    Hashtag,
    Section,
    Text,
    alternatives_schema,
    clean_text,
    one_or_more,
    slug_rule,
    text_schema,
)
from matinale.segment import Segment
from matinale.yamlfile import Fix, load_yaml


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


def _opener(value: Any) -> str:
    from jinja2 import TemplateSyntaxError

    text = clean_text(value)
    try:
        _opener_template(text)
    except TemplateSyntaxError as exc:
        raise Fix(
            f"{exc.message}", "fix the {{ ... }} placeholder (see the comment on top)"
        ) from exc
    return text


def _hashtag_sets(value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(s, list) for s in value):
        raise Fix(
            "must be a list of hashtag sets",
            "write e.g. [[Voter], [JeVote, Citoyens]]",
        )
    return value


def _values(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


Opener = Annotated[str, PlainValidator(_opener), WithJsonSchema(text_schema())]
Texts = Annotated[
    list[Text],
    BeforeValidator(one_or_more),
    WithJsonSchema(alternatives_schema(text_schema())),
]
Openers = Annotated[
    list[Opener],
    BeforeValidator(one_or_more),
    WithJsonSchema(alternatives_schema(text_schema())),
]
Values = Annotated[
    list[str],
    BeforeValidator(_values),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]
AngleName = Annotated[
    str,
    PlainValidator(slug_rule("a slug, e.g. devoir-civique")),
    WithJsonSchema({"type": "string", "examples": ["devoir-civique"]}),
]


class AngleFile(Section):
    """An angle: the ingredients its variants take turns with."""

    label: Text
    openers: Openers
    cta_intros: Texts
    hashtags: Annotated[list[list[Hashtag]], BeforeValidator(_hashtag_sets)] = [[]]


class WhenFile(Section):
    """What a segment must be for a rule to apply (each key a value or a list of values)."""

    kind: Values | None = None
    band: Values | None = None
    framing: Values | None = None
    profile: Values | None = None
    interest: Values | None = None
    top_interest: Values | None = None
    theme: Values | None = None


class RuleFile(Section):
    """A rule: the angle of segments matching ``when``."""

    when: WhenFile = WhenFile()
    angle: Text


class FramingFile(Section):
    """``content_templates/framing.yaml``: rules, angles and interests in words."""

    rules: list[RuleFile] = []
    angles: dict[AngleName, AngleFile]
    interests: dict[str, Text] = {}

    @field_validator("angles")
    @classmethod
    def _default_angle(cls, angles: dict[str, AngleFile]) -> dict[str, AngleFile]:
        if "default" not in angles:
            raise Fix(
                "needs a 'default' angle, used when no rule and no band framing applies",
                "add angles.default",
            )
        return angles


def _load_framing(path: Path) -> tuple[tuple[_Rule, ...], dict[str, _Angle], dict[str, str]]:
    doc = load_yaml(path, error=RulesError)
    raw = doc.validate(FramingFile)
    angles = {
        name: _Angle(
            name,
            body.label,
            tuple(body.openers),
            tuple(body.cta_intros),
            tuple(tuple(tags) for tags in body.hashtags or [[]]),
        )
        for name, body in raw.angles.items()
    }
    rules = []
    for index, rule in enumerate(raw.rules):
        if rule.angle not in angles:
            raise doc.refuse(
                f"angle {rule.angle!r} is not defined under 'angles' ({', '.join(sorted(angles))})",
                "define it there or use one of those",
                path=("rules", index, "angle"),
            )
        when = {key: tuple(getattr(rule.when, key) or ()) for key in rule.when.model_fields_set}
        rules.append(_Rule(when, rule.angle))
    return tuple(rules), angles, dict(raw.interests)


@cache
def load_rules(templates_dir: Path) -> ContentRules:
    """The framing rules and channel rules of ``templates_dir`` (read once per process)."""
    templates_dir = Path(templates_dir)
    for name in ("framing.yaml", "channels.yaml"):
        if not (templates_dir / name).is_file():
            raise RulesError(
                f"{templates_dir / name}: missing; it ships with the project (git checkout it)"
            )
    # (rules, angles, interests) from framing.yaml, (channels, shorten, shingle) from channels.yaml.
    return ContentRules(
        *_load_framing(templates_dir / "framing.yaml"),
        *_load_channels(templates_dir / "channels.yaml"),
    )


def _segment_facts(segment: Segment) -> dict[str, tuple[str, ...]]:
    interests = segment.top_interests
    return {
        "kind": (segment.kind,),
        "band": (segment.band,) if segment.band else (),
        "framing": (segment.framing,) if segment.framing else (),
        "profile": (segment.profile,) if segment.profile else (),
        "interest": interests,
        "top_interest": interests[:1],
        "theme": (segment.theme,) if segment.theme else (),
    }


def _choose_angle(segment: Segment, rules: ContentRules) -> str:
    facts = _segment_facts(segment)
    for rule in rules.rules:
        if all(set(values) & set(facts[key]) for key, values in rule.when.items()):
            return rule.angle
    hint = segment.framing
    return hint if hint and hint in rules.angles else "default"


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
