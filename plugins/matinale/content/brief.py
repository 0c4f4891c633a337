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
from typing import Annotated, Any, Literal

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
    Text,
    alternatives_schema,
    clean_text,
    one_or_more,
    slug_rule,
    text_schema,
)
from matinale.yamlfile import Fix, load_yaml

__all__ = ["BandTexts", "Brief", "BriefFile", "Fact", "LineOfDay", "Theme", "load_brief"]

_MONTHS = "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split()


@dataclass(frozen=True)
class Fact:
    """A figure the posts may quote, with where it comes from and the date it holds for."""

    text: str
    source: str  # a link on a domain campaign.yaml allows
    as_of: date | None = None
    publisher: str = ""  # how the source is named in text (default: its site, e.g. Insee)

    @property
    def citation(self) -> str:
        """The source as text, e.g. "(Insee, nov. 2026)": no link, so no preview of that site."""
        from matinale.content.links import _site

        name = self.publisher or _publisher(_site(self.source))
        when = f", {_MONTHS[self.as_of.month - 1]} {self.as_of.year}" if self.as_of else ""
        return f"({name}{when})"


def _publisher(site: str) -> str:
    """insee.fr → Insee, service-public.fr → Service-public.fr: a site named in words."""
    first = site.split(".", 1)[0]
    return first.capitalize() if first.isalpha() and len(first) > 3 else site.capitalize()


@dataclass(frozen=True)
class BandTexts:
    """What one age band hears about a theme: its own key message, claim and arguments."""

    key_message: str = ""
    claim: str = ""
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineOfDay:
    """The staff's line of the day for a band: it opens variant 1 of ``theme`` (any theme
    when empty: the segment's leading one), with ``angle`` (the segment's when empty)."""

    text: str
    theme: str = ""
    angle: str = ""


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
    claim: str = ""  # a complete sentence, used where the title meets body text
    subject: str = ""  # the e-mail subject (default: the title)
    sms_line: str = ""  # what an SMS says (≤ 70 characters; default: the title)
    bands: dict[str, BandTexts] = field(default_factory=dict)

    def texts(self, band: str | None) -> BandTexts:
        """The key message, claim and arguments ``band`` hears (the theme's own by default)."""
        own = self.bands.get(band or "") or BandTexts()
        return BandTexts(
            key_message=own.key_message or own.claim or self.key_message,
            claim=own.claim or self.claim or own.key_message or self.key_message,
            arguments=own.arguments,
        )

    def __post_init__(self) -> None:
        if not self.calls_to_action:
            object.__setattr__(self, "calls_to_action", (self.call_to_action,))


@dataclass(frozen=True)
class Brief:
    """The night's brief: its edition, its themes and the staff's line per segment or band."""

    edition: date
    themes: tuple[Theme, ...]
    framing: dict[str, str] = field(default_factory=dict)  # the lines' text, by key
    lines: dict[str, LineOfDay] = field(default_factory=dict)
    address: str = "vous"  # the brief's form of address: tu or vous

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


def _claim(value: Any) -> str:
    from matinale.content.quality import starts_with_infinitive

    text = _brief_text(250)(value)
    word = starts_with_infinitive(text)
    if word:
        raise Fix(
            f"starts with the infinitive '{word}': a claim is a complete sentence",
            f"give it a subject, e.g. 'Nous allons {word.lower()} …' or 'Camille Durand veut …'",
        )
    if not text.endswith((".", "!", "?", "…")):
        raise Fix("is not a sentence: it must end with a full stop", "end it with '.'")
    return text


def _subject(value: Any) -> str:
    text = _title(value)
    if text.endswith("."):
        raise Fix("ends with a full stop; a subject does not", "remove the final '.'")
    if text.count(":") > 1:
        raise Fix("holds two colons", "keep at most one")
    return text


Claim = Annotated[str, PlainValidator(_claim), WithJsonSchema(text_schema(250))]
Subject = Annotated[str, PlainValidator(_subject), WithJsonSchema(text_schema(80))]
SmsLine = Annotated[str, PlainValidator(_brief_text(70)), WithJsonSchema(text_schema(70))]
ArgumentText = Annotated[str, PlainValidator(_brief_text(200)), WithJsonSchema(text_schema(200))]
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
    """A fact of a theme, its https source and the date it holds for."""

    text: FactText
    source: Link
    as_of: Day | None = None
    publisher: Text | None = None


class BandFile(Section):
    """What one age band hears about a theme, in its own words."""

    key_message: KeyMessage | None = None
    claim: Claim | None = None
    arguments: list[ArgumentText] = []


class LineFile(Section):
    """The staff's line of the day for a band, for one theme, in one angle."""

    theme: Slug
    angle: Slug | None = None
    text: FramingLine


class ThemeFile(Section):
    """One theme of the brief."""

    id: Slug
    title: Title
    key_message: KeyMessage
    facts: list[FactFile] = []
    link: Link
    hashtags: list[Hashtag] = []
    call_to_action: Calls
    claim: Claim | None = None
    subject: Subject | None = None
    sms_line: SmsLine | None = None
    bands: dict[FramingKey, BandFile] = {}


class BriefFile(Section):
    """``briefs/<edition>.yaml``: the edition's date, its themes and the framing lines."""

    edition: Day
    address: Literal["tu", "vous"] = "vous"
    themes: list[ThemeFile]
    framing: dict[FramingKey, LineFile | FramingLine] = {}

    @field_validator("themes")
    @classmethod
    def _some_themes(cls, themes: list[ThemeFile]) -> list[ThemeFile]:
        if not themes:
            raise Fix("must be a non-empty list of themes; the brief needs at least one theme")
        return themes


def _theme(raw: ThemeFile) -> Theme:
    calls = tuple(dict.fromkeys(raw.call_to_action))
    bands = {
        band: BandTexts(body.key_message or "", body.claim or "", tuple(body.arguments))
        for band, body in raw.bands.items()
    }
    return Theme(
        claim=raw.claim or "",
        subject=raw.subject or "",
        sms_line=raw.sms_line or "",
        bands=bands,
        id=raw.id,
        title=raw.title,
        key_message=raw.key_message,
        link=raw.link,
        call_to_action=calls[0],
        facts=tuple(
            Fact(text=f.text, source=f.source, as_of=f.as_of, publisher=f.publisher or "")
            for f in raw.facts
        ),
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
    cited: dict[str, str] = {}
    for i, theme in enumerate(raw.themes):
        for j, fact in enumerate(theme.facts):
            if cited.setdefault(fact.source, fact.text) != fact.text:
                raise doc.refuse(
                    f"{fact.source} is already the source of another fact",
                    "cite, for each fact, the page that states it",
                    path=("themes", i, "facts", j, "source"),
                )
    lines = {
        key: LineOfDay(line)
        if isinstance(line, str)
        else LineOfDay(line.text, line.theme, line.angle or "")
        for key, line in raw.framing.items()
    }
    return Brief(
        edition=raw.edition,
        themes=tuple(_theme(theme) for theme in raw.themes),
        framing={key: line.text for key, line in lines.items()},
        lines=lines,
        address=raw.address,
    )
