"""The day's brief: ``briefs/<edition>.yaml`` read and validated into themes, facts and framing.

The file is read by :func:`matinale.yamlfile.load_yaml` (size cap, no anchors: a "billion
laughs" brief is refused before it expands) and validated by :class:`BriefFile` (its JSON
Schema is ``matinale/schemas/brief.schema.json``); errors read ``file:line: field: message``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from matinale.content import typography
from matinale.content.errors import BriefError
from matinale.content.links import _link_problem
from matinale.content.typography import URL_PATTERN
from matinale.schemas.fields import (
    Day,
    Hashtag,
    Section,
    Slug,
    alternatives_schema,
    clean_text,
    one_or_more,
    slug_rule,
    text_schema,
)
from matinale.yamlfile import Fix, load_yaml

__all__ = ["Brief", "BriefFile", "Fact", "Theme", "load_brief"]


@dataclass(frozen=True)
class Fact:
    """A figure the posts may quote, with where it comes from."""

    text: str
    source: str  # a link on a domain campaign.yaml allows


@dataclass(frozen=True)
class Theme:
    """One theme of the night's brief: what every segment hears about it, in its own words."""

    id: str
    title: str  # ≤ 80 characters, also the card's headline
    key_message: str
    link: str
    call_to_action: str  # the first of ``calls_to_action``
    facts: tuple[Fact, ...] = ()
    hashtags: tuple[str, ...] = ()
    calls_to_action: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.calls_to_action:
            object.__setattr__(self, "calls_to_action", (self.call_to_action,))


@dataclass(frozen=True)
class Brief:
    """The night's brief: its edition, its themes and the staff's line per segment or band."""

    edition: date
    themes: tuple[Theme, ...]
    framing: dict[str, str] = field(default_factory=dict)

    def card_texts(self) -> dict[str, list[tuple[str, str]]]:
        """The brief's texts that cards draw, by card field, each with where it is written
        (``themes[0].title``): what ``matinale.night.cards`` puts on a card."""
        return {
            "headline": [(f"themes[{i}].title", t.title) for i, t in enumerate(self.themes)],
            "body": [
                (f"themes[{i}].key_message", t.key_message) for i, t in enumerate(self.themes)
            ],
            "cta": [
                (f"themes[{i}].call_to_action", t.call_to_action) for i, t in enumerate(self.themes)
            ],
            "tagline": [(f"framing.{key}", line) for key, line in self.framing.items()],
        }


def _brief_text(max_length: int) -> Callable[[Any], str]:
    """A validator of a brief's text: one line, at most ``max_length``, no link in it."""

    def check(value: Any) -> str:
        # Refused before any per-character work: a 10-million-character title took 9 s.
        # Folding whitespace shortens a text, but never tenfold in a real brief.
        if isinstance(value, str) and len(value) > 10 * max_length + 100:
            raise Fix(f"is {len(value)} characters long; at most {max_length}", "shorten it")
        text = clean_text(value, max_length)
        if URL_PATTERN.search(text):
            raise Fix(
                "holds a link; put links in 'link' or in a fact's 'source', where they are checked and tracked"
            )
        return text

    return check


def _title(value: Any) -> str:
    title: str = _brief_text(80)(value)
    length = len(typography.fix(title, "social"))
    if length > 80:  # « » and their spaces count in a subject
        raise Fix(
            f"is {length} characters once written in French typography; at most 80 (it is the e-mail subject)",
            "shorten it",
        )
    return title


def _link(value: Any, info: ValidationInfo) -> str:
    url = clean_text(value)
    domains = (info.context or {}).get("allowed_domains")
    problem = _link_problem(url, domains)
    if problem:
        raise Fix(problem)
    return url


Title = Annotated[str, PlainValidator(_title), WithJsonSchema(text_schema(80))]
KeyMessage = Annotated[str, PlainValidator(_brief_text(250)), WithJsonSchema(text_schema(250))]
FactText = Annotated[str, PlainValidator(_brief_text(280)), WithJsonSchema(text_schema(280))]
FramingLine = Annotated[str, PlainValidator(_brief_text(200)), WithJsonSchema(text_schema(200))]
CallText = Annotated[str, PlainValidator(_brief_text(120)), WithJsonSchema(text_schema(120))]
Link = Annotated[
    str,
    PlainValidator(_link),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^https://[^\\s]+$",
            "description": "https, on a domain of campaign.yaml's links.allowed_domains",
        }
    ),
]
FramingKey = Annotated[
    str,
    PlainValidator(slug_rule("an age band, angle or segment id (a slug such as 65plus)")),
    WithJsonSchema({"type": "string", "examples": ["65plus"]}),
]
Calls = Annotated[
    list[CallText],
    BeforeValidator(one_or_more),
    WithJsonSchema(
        alternatives_schema(
            text_schema(120), "one sentence, or 1 to 10 alternatives that variants take turns with"
        )
    ),
]


class FactFile(Section):
    """A fact of a theme and its https source."""

    text: FactText
    source: Link


class ThemeFile(Section):
    """One theme of the brief."""

    id: Slug
    title: Title
    key_message: KeyMessage
    facts: list[FactFile] = []
    link: Link
    hashtags: list[Hashtag] = []
    call_to_action: Calls


class BriefFile(Section):
    """``briefs/<edition>.yaml``: the edition's date, its themes and the framing lines."""

    edition: Day
    themes: list[ThemeFile]
    framing: dict[FramingKey, FramingLine] = {}

    @field_validator("themes")
    @classmethod
    def _some_themes(cls, themes: list[ThemeFile]) -> list[ThemeFile]:
        if not themes:
            raise Fix("must be a non-empty list of themes; the brief needs at least one theme")
        return themes


def _theme(raw: ThemeFile) -> Theme:
    calls = tuple(dict.fromkeys(raw.call_to_action))
    return Theme(
        id=raw.id,
        title=raw.title,
        key_message=raw.key_message,
        link=raw.link,
        call_to_action=calls[0],
        facts=tuple(Fact(text=f.text, source=f.source) for f in raw.facts),
        hashtags=tuple(dict.fromkeys(raw.hashtags, None)),
        calls_to_action=calls,
    )


def load_brief(
    path: Path, edition: date | None = None, *, allowed_domains: Sequence[str] | None = None
) -> Brief:
    """Read and validate a brief; ``edition`` (if given) must match the date inside.

    With ``allowed_domains`` (``Settings.allowed_domains``), every link and source must be
    https on one of them. Errors name the file, the line and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise BriefError(
            f"{path}: no brief for this edition; staff must write it before the cut-off"
        )
    doc = load_yaml(path, error=BriefError)
    domains = tuple(allowed_domains) if allowed_domains is not None else None
    raw = doc.validate(BriefFile, context={"allowed_domains": domains})
    if edition is not None and raw.edition != edition:
        raise doc.refuse(
            f"{raw.edition} inside does not match the expected {edition}",
            "is this yesterday's brief?",
            path=("edition",),
        )
    doc.unique_ids(raw.themes, what="theme", section="themes")
    return Brief(
        edition=raw.edition,
        themes=tuple(_theme(theme) for theme in raw.themes),
        framing=dict(raw.framing),
    )
