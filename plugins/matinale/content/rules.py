"""Framing rules and angles (framing.yaml), variant ingredients, and near-duplicate measures.

``framing.yaml`` is read by :func:`matinale.yamlfile.load_yaml` and validated by
:class:`FramingFile` (JSON Schema ``matinale/schemas/framing.schema.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BeforeValidator, Field, PlainValidator, WithJsonSchema, field_validator

from matinale.content.channels import _ChannelRule, _load_channels
from matinale.content.errors import RulesError
from matinale.content.render import _opener_template
from matinale.schemas.fields import (
    Hashtag,
    Section,
    Text,
    clean_text,
    one_or_more,
    slug_rule,
    text_schema,
)
from matinale.segment import Segment
from matinale.yamlfile import Fix, load_yaml


@dataclass(frozen=True)
class Piece:
    """An ingredient of a post (opener, call-to-action intro, call to action, hashtag set)
    and what it fits: its form of address and, when tagged, its themes and age bands."""

    id: str
    text: str
    address: str | None = None  # "tu", "vous", or None: no form of address in it
    themes: tuple[str, ...] = ()  # no tag: every theme
    bands: tuple[str, ...] = ()  # no tag: every band (and territorial packs)
    tags: tuple[str, ...] = ()  # a hashtag set's hashtags

    def fits(self, theme: str, band: str | None, address: str | None) -> bool:
        """True when this piece may be used for ``theme``, ``band`` and ``address``."""
        return (
            (not self.themes or theme in self.themes)
            and (not self.bands or (band is not None and band in self.bands))
            and (address is None or self.address in (None, address))
        )


@dataclass(frozen=True)
class _Angle:
    id: str
    label: str
    openers: tuple[Piece, ...]
    cta_intros: tuple[Piece, ...]
    hashtag_sets: tuple[Piece, ...]
    ctas: tuple[Piece, ...] = ()

    def eligible(self, theme: str, band: str | None, address: str | None) -> bool:
        """An opener and a call to action of this angle fit ``theme`` and ``band``."""
        return any(o.fits(theme, band, address) for o in self.openers) and any(
            c.fits(theme, band, address) for c in self.ctas
        )


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


def _values(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


Opener = Annotated[str, PlainValidator(_opener), WithJsonSchema(text_schema())]
PieceId = Annotated[
    str | None,
    PlainValidator(lambda v: None if v is None else slug_rule("a slug, e.g. mob-o1")(v)),
    WithJsonSchema({"type": "string", "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$"}),
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


Address = Literal["tu", "vous"]
Tags = Annotated[
    list[str],
    BeforeValidator(_values),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


class PieceFile(Section):
    """An ingredient with what it fits: its id, its form of address, its themes and bands."""

    id: PieceId
    text: Opener
    address: Address | None = Field(
        default=None, description="tu or vous; none only for a text without either"
    )
    themes: Tags = Field(default=[], description="the brief's theme ids it fits (none: all)")
    bands: Tags = Field(default=[], description="the age band ids it fits (none: all)")


class HashtagSetFile(Section):
    """A hashtag set with what it fits."""

    id: PieceId
    tags: list[Hashtag]
    address: Address | None = None
    themes: Tags = []
    bands: Tags = []


def _pieces(value: Any) -> Any:
    """Plain strings (an older framing.yaml) are pieces without tags."""
    items = one_or_more(value)
    return [{"id": None, "text": item} if isinstance(item, str) else item for item in items]


def _hashtag_pieces(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(s, list) for s in value):
        return [{"id": None, "tags": tags} for tags in value]
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        raise Fix(
            "must be a list of hashtag sets",
            "write e.g. [{id: vote, tags: [Voter, JeVote]}]",
        )
    return value


Pieces = Annotated[list[PieceFile], BeforeValidator(_pieces)]


class AngleFile(Section):
    """An angle: the ingredients its variants take turns with."""

    label: Text
    openers: Pieces
    cta_intros: Pieces
    ctas: Pieces = []
    hashtags: Annotated[list[HashtagSetFile], BeforeValidator(_hashtag_pieces)] = []


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


_KINDS = {"openers": "o", "cta_intros": "i", "ctas": "c", "hashtags": "h"}


def _piece(doc: Any, angle: str, kind: str, index: int, raw: PieceFile | HashtagSetFile) -> Piece:
    """A piece of framing.yaml, its id given when missing, its address checked against its text."""
    from matinale.content.quality import address_of

    where = ("angles", angle, kind, index)
    text = raw.text if isinstance(raw, PieceFile) else ""
    found = address_of(text)
    if len(found) > 1:
        raise doc.refuse("uses both tu and vous", "keep one form of address", path=where)
    address: str | None = raw.address or (min(found) if found else None)
    if found and address not in found:
        raise doc.refuse(
            f"is declared '{raw.address}' but says '{next(iter(found))}'",
            "fix its address or its words",
            path=(*where, "address"),
        )
    if kind == "cta_intros" and text.rstrip().endswith(":"):
        raise doc.refuse(
            "ends with a colon; introduce the call to action with a phrase",
            'write e.g. "Pour agir," (the call to action follows in lower case)',
            path=where,
        )
    return Piece(
        id=raw.id or f"{angle}-{_KINDS[kind]}{index + 1}",
        text=text,
        address=address,
        themes=tuple(raw.themes),
        bands=tuple(raw.bands),
        tags=tuple(raw.tags) if isinstance(raw, HashtagSetFile) else (),
    )


def _load_framing(path: Path) -> tuple[tuple[_Rule, ...], dict[str, _Angle], dict[str, str]]:
    doc = load_yaml(path, error=RulesError)
    raw = doc.validate(FramingFile)
    angles = {}
    ids: dict[str, str] = {}
    for name, body in raw.angles.items():
        kinds: dict[str, tuple[Piece, ...]] = {}
        for kind in _KINDS:
            items: list[Any] = getattr(body, kind) or []
            kinds[kind] = tuple(_piece(doc, name, kind, i, item) for i, item in enumerate(items))
            for index, piece in enumerate(kinds[kind]):
                if (
                    ids.setdefault(piece.id, name) != name
                    or [p.id for p in kinds[kind]].count(piece.id) > 1
                ):
                    raise doc.refuse(
                        f"id {piece.id!r} is used twice",
                        "give each piece its own id",
                        path=("angles", name, kind, index, "id"),
                    )
        angles[name] = _Angle(
            name,
            body.label,
            kinds["openers"],
            kinds["cta_intros"],
            kinds["hashtags"] or (Piece(f"{name}-h0", ""),),
            kinds["ctas"],
        )
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
    angle: str = ""
    opener_id: str = ""

    @property
    def call(self) -> str:
        """The call to action as a sentence: "Pour agir, signez la pétition."."""
        return call_sentence(self.cta_intro, self.cta)


@lru_cache(maxsize=4096)  # a night's intros × calls to action
def call_sentence(intro: str, cta: str) -> str:
    """``intro`` and ``cta`` as one sentence: a phrase ending in a comma is followed by the
    call to action in lower case; an emoji or nothing, by the call to action as written."""
    cta = cta.strip().rstrip(".!:; ")
    intro = intro.strip()
    if not cta:
        return intro
    if intro.endswith(","):
        first = cta.split(" ", 1)[0]
        if not (len(first) > 1 and first[1:2].isupper()):  # "STOP", "UE": kept as written
            cta = cta[:1].lower() + cta[1:]
        return f"{intro} {cta}."
    cta = cta[:1].upper() + cta[1:]
    return f"{intro} {cta}." if intro else f"{cta}."


def eligible_angles(
    rules: ContentRules, theme: str, band: str | None, address: str | None
) -> list[str]:
    """The angles with an opener and a call to action that fit ``theme``, ``band`` and ``address``."""
    return [name for name, angle in rules.angles.items() if angle.eligible(theme, band, address)]


def _rotate_hashtags(
    theme_tags: Sequence[str], extra: Sequence[str], shift: int
) -> tuple[str, ...]:
    """The theme's hashtags in a rotated order, then the angle's set; duplicates dropped."""
    return _rotated(tuple(theme_tags), tuple(extra), shift)


@lru_cache(maxsize=4096)  # a night's themes × hashtag sets × shifts: a few hundred
def _rotated(theme_tags: tuple[str, ...], extra: tuple[str, ...], shift: int) -> tuple[str, ...]:
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


class ShingledTexts(NamedTuple):
    """Texts cut as :func:`shingles` cuts them, in integers (two CSR layouts): text ``t``'s
    lines are ``lines[text_ptr[t]:text_ptr[t + 1]]``, line ``l``'s shingle ids
    ``shingles[line_ptr[l]:line_ptr[l + 1]]``; a text's shingles are its lines' union."""

    text_ptr: Any
    lines: Any
    line_ptr: Any
    shingles: Any

    def lines_of(self, texts: Any) -> tuple[Any, Any]:
        """The line ids of ``texts`` (ids, an array), chained, and how many each text has."""
        return _rows(self.text_ptr, self.lines, texts)

    def shingles_of(self, lines: Any) -> tuple[Any, Any]:
        """The shingle ids of ``lines`` (ids, an array), chained, and how many each has."""
        return _rows(self.line_ptr, self.shingles, lines)


def _rows(pointers: Any, values: Any, rows: Any) -> tuple[Any, Any]:
    """The values of CSR rows ``rows``, chained, and each row's length."""
    import numpy as np

    starts = pointers[rows]
    lengths = pointers[rows + 1] - starts
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if lengths.size else 0
    return values[np.arange(total) + np.repeat(starts - ends + lengths, lengths)], lengths


def shingled_texts(texts: Sequence[str], size: int = 5) -> ShingledTexts:
    """:func:`shingles` of many texts as numpy arrays, each distinct line cut once (a
    night's 12,000 social posts come to about 2,000 lines)."""
    import itertools

    import numpy as np

    ids: dict[str, int] = {}
    per_text = [
        [ids.setdefault(line, len(ids)) for line in text.split("\n") if line.strip()]
        for text in texts
    ]
    sets = [_line_shingles(line, size) for line in ids]
    vocabulary = dict(zip(dict.fromkeys(itertools.chain(*sets)), itertools.count(), strict=False))

    def layout(rows: list[Any], values: Any) -> tuple[Any, Any]:
        pointers = np.zeros(len(rows) + 1, dtype=np.intp)
        np.cumsum([len(row) for row in rows], out=pointers[1:])
        return pointers, np.fromiter(values, dtype=np.intp, count=int(pointers[-1]))

    text_ptr, lines = layout(per_text, itertools.chain(*per_text))
    line_ptr, columns = layout(sets, map(vocabulary.__getitem__, itertools.chain(*sets)))
    return ShingledTexts(text_ptr, lines, line_ptr, columns)


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
