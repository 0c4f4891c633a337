"""The day's brief: ``briefs/<edition>.yaml`` read and validated into themes, facts and framing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from matinale.content import typography
from matinale.content.errors import BriefError
from matinale.content.links import _link_problem
from matinale.content.typography import URL_PATTERN
from matinale.content.yamldoc import _HASHTAG, _SLUG, _Doc, _each, _kind


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


def _brief_text(
    doc: _Doc, value: Any, path: tuple[str | int, ...], *, max_length: int | None = None
) -> str:
    text = doc.text(value, path, max_length=max_length)
    if URL_PATTERN.search(text):
        doc.fail(
            path,
            "holds a link; put links in 'link' or in a fact's 'source', where they are checked and tracked",
        )
    return text


def _brief_url(
    doc: _Doc, value: Any, path: tuple[str | int, ...], allowed_domains: Sequence[str] | None
) -> str:
    url = doc.text(value, path)
    problem = _link_problem(url, allowed_domains)
    if problem:
        doc.fail(path, problem)
    return url


def _theme(
    doc: _Doc, item: Any, where: tuple[str | int, ...], allowed_domains: Sequence[str] | None
) -> Theme:
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
        facts.append(
            Fact(
                text=_brief_text(doc, raw["text"], (*at, "text"), max_length=280),
                source=_brief_url(doc, raw["source"], (*at, "source"), allowed_domains),
            )
        )
    hashtags_raw = item.get("hashtags") or []
    if not isinstance(hashtags_raw, list):
        doc.fail(
            (*where, "hashtags"),
            f"must be a list such as [PouvoirDAchat, EnsembleDemain]; got {_kind(hashtags_raw)}",
        )
    hashtags = []
    for index, raw in enumerate(hashtags_raw):
        tag = (
            str(raw).strip().lstrip("#")
            if isinstance(raw, str | int) and not isinstance(raw, bool)
            else ""
        )
        if not _HASHTAG.match(tag):
            doc.fail(
                (*where, "hashtags", index),
                f"{raw!r} is not a hashtag: letters, digits and _ only, no space",
            )
        hashtags.append(tag)
    title = _brief_text(doc, item["title"], (*where, "title"), max_length=80)
    if len(typography.fix(title, "social")) > 80:  # « » and their spaces count in a subject
        doc.fail(
            (*where, "title"),
            f"is {len(typography.fix(title, 'social'))} characters once written in French typography; at most 80 (it is the e-mail subject)",
        )
    calls = tuple(
        _brief_text(doc, cta, path, max_length=120)
        for cta, path in _each(doc, item["call_to_action"], (*where, "call_to_action"))
    )
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


def load_brief(
    path: Path, edition: date | None = None, *, allowed_domains: Sequence[str] | None = None
) -> Brief:
    """Read and validate a brief; ``edition`` (if given) must match the date inside.

    With ``allowed_domains`` (``Settings.allowed_domains``), every link and source must be
    https on one of them. Errors name the file, the line and the field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BriefError(
            f"{path}: no brief for this edition; staff must write it before the cut-off"
        ) from exc
    except UnicodeDecodeError as exc:
        raise BriefError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the brief as UTF-8"
        ) from exc
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
        doc.fail(
            ("edition",),
            f"{inside} inside does not match the expected {edition}: is this yesterday's brief?",
        )
    if not isinstance(raw["themes"], list) or not raw["themes"]:
        doc.fail(
            ("themes",), "must be a non-empty list of themes; the brief needs at least one theme"
        )
    themes = [
        _theme(doc, item, ("themes", index), allowed_domains)
        for index, item in enumerate(raw["themes"])
    ]
    seen: set[str] = set()
    for index, theme in enumerate(themes):
        if theme.id in seen:
            doc.fail(
                ("themes", index, "id"), f"theme id {theme.id!r} is used twice; ids must be unique"
            )
        seen.add(theme.id)
    framing_raw = raw.get("framing") or {}
    if not isinstance(framing_raw, dict):
        doc.fail(
            ("framing",),
            f"must map an age band id (e.g. 65plus) to a sentence; got {_kind(framing_raw)}",
        )
    framing = {}
    for key, value in framing_raw.items():
        if not _SLUG.match(str(key)):
            doc.fail(
                ("framing", str(key)),
                f"{key!r} must be an age band, angle or segment id (a slug such as 65plus)",
            )
        framing[str(key)] = _brief_text(doc, value, ("framing", str(key)), max_length=200)
    return Brief(edition=inside, themes=tuple(themes), framing=framing)
