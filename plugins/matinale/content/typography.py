"""French typography per channel (characters and lengths: :mod:`matinale.content.charset`).

Two styles of French punctuation, because the channels do not carry the same characters:

``social`` (X, Facebook, Instagram, WhatsApp, e-mail subject and text)
    narrow no-break space (U+202F) before ``; : ! ?`` and inside « », typographic
    apostrophe ’, « » for straight double quotes, … for three dots, single spaces.
``sms``
    only characters of the GSM 03.38 alphabet, so one part holds 160 characters instead of
    70: a plain space before ``; : ! ?``, plain apostrophe and quotes, accents that GSM-7
    lacks (ê, ç, ÿ…) written without them.
``html``
    the ``social`` rules applied to the text between tags only, never to tags, attributes
    or entities.

URLs, e-mail addresses, hashtags, @mentions, times (07:30, 7h30) and numbers (3:2) are
never touched. :func:`fix` applies a style; :func:`check` reports what breaks it, so a
template that brings its own bad punctuation fails the night with a position to look at.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal

from matinale.content.charset import (
    _GSM7_ALL,
    _NBSP,
    GSM7_BASIC,
    GSM7_EXTENSION,
    NNBSP,
    URL_PATTERN,
    SmsCount,
    sms_count,
    to_gsm7,
    x_length,
)

__all__ = [
    "Fixed",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "NNBSP",
    "SmsCount",
    "Style",
    "TypographyIssue",
    "URL_PATTERN",
    "check",
    "fix",
    "fix_checked",
    "sms_count",
    "to_gsm7",
    "x_length",
]

Style = Literal["social", "sms", "html"]

# Spans never touched besides URLs; a hashtag or mention is not an entity such as &#39;.
_EMAIL = r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_TAG_OR_MENTION = r"[#@]\w+"  # not after & or a letter: checked in _protect_rest
_TIME_OR_SCORE = r"\d{1,2}(?:h\d\d|(?:[;:!?]\d+)+)"  # 7h30, 07:30, 12:45:00, 3:2
# Placeholders for protected spans live in the Private Use Area: they are non-space,
# so punctuation rules treat them as a word, and never appear in real French text.
_PUA = 0xE000
_PLACEHOLDER = re.compile("[\ue000-\uf8ff]")
_PLACEHOLDER_SPLIT = re.compile("([\ue000-\uf8ff])")
_URL_SPLIT = re.compile(f"({URL_PATTERN.pattern})")
_MARKS = [chr(_PUA + i) for i in range(64)]  # the first placeholders, made once

# Distinct texts cached per function: a night's posts, links masked, come to a few thousand
# (8,700 for 200 segments); a smaller cache would evict them before they come back.
_TEXTS = 1 << 15
_SPACES = f" {_NBSP}{NNBSP}\t"
_PUNCT_RUN = re.compile(r"[;:!?]+")
# Only between a guillemet and a word: a dangling « at the end of a line stays as it is.
_OPEN_GUILLEMET = re.compile(rf"«[{_SPACES}]*(?=\S)")
_CLOSE_GUILLEMET = re.compile(rf"(?<=\S)[{_SPACES}]*»")
_STRAIGHT_QUOTES = re.compile(r'"[ \t]*([^"\n]*?)[ \t]*"')
_LONE_OPENING_QUOTE = re.compile(r'(?:^|(?<=[\s(\[]))"[ \t]*', re.MULTILINE)
_MULTI_SPACE = re.compile(r"[ \t]{2,}")
_NEXT_TO_NNBSP = tuple(p for c in (" ", "\t", _NBSP) for p in (c + NNBSP, NNBSP + c))
_SPACE_NEXT_TO_NNBSP = re.compile(rf"[ \t{_NBSP}]+(?={NNBSP})|(?<={NNBSP})[ \t{_NBSP}]+")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_LEADING = re.compile(r"^[ \t]+", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")
_SMS_GUILLEMETS = re.compile(rf"«[{_SPACES}]*|[{_SPACES}]*»")
_TAG = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
_RAW_TEXT_ELEMENT = re.compile(r"<(style|script)\b", re.IGNORECASE)


@dataclass(frozen=True)
class TypographyIssue:
    """One place where a text breaks its channel's typography."""

    position: int
    rule: str
    excerpt: str

    def __str__(self) -> str:
        return f"character {self.position}: {self.rule} in {self.excerpt!r}"


def _protect(text: str) -> tuple[str, list[str]]:
    """``text`` with every protected span replaced by one placeholder, and the spans."""
    masked, kept, _ = _protect_counted(text)
    return masked, kept


def _protect_counted(text: str) -> tuple[str, list[str], int]:
    """:func:`_protect`, and how many of the spans (the first ones) are links."""
    if _PLACEHOLDER.search(text):
        raise ValueError(
            "text holds Private Use characters (U+E000–U+F8FF), which no post may carry: "
            "remove them from the brief or the template"
        )
    # URLs first: they are what differs from post to post, and once they are masked the
    # same texts come back, so the slower search for the other spans is cached.
    # One split in C: [text, url, text, url, …, text].
    parts = _URL_SPLIT.split(text)
    kept: list[str] = parts[1::2]
    links = len(kept)
    if links:
        parts[1::2] = (
            _MARKS[:links] if links <= len(_MARKS) else [chr(_PUA + i) for i in range(links)]
        )
        masked = "".join(parts)
    else:
        masked = text
    rest, spans = _protect_rest(masked, links)
    return rest, kept + list(spans), links


@cache
def _rest_pattern(emails: bool, tags: bool) -> re.Pattern[str]:
    # Alternatives whose trigger character is absent are left out of the search.
    return re.compile(
        "|".join(
            [*([_EMAIL] if emails else []), *([_TAG_OR_MENTION] if tags else []), _TIME_OR_SCORE]
        )
    )


@lru_cache(maxsize=_TEXTS)
def _protect_rest(text: str, start: int) -> tuple[str, tuple[str, ...]]:
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        span = match.group(0)
        if (
            span[0] in "#@"
            and match.start()
            and (text[match.start() - 1] == "&" or text[match.start() - 1].isalnum())
        ):
            return span  # "&#39;" is an entity, "a@b" is handled as an e-mail address
        if span[0].isdigit() and match.start() and text[match.start() - 1].isalnum():
            return span
        spans.append(span)
        return chr(_PUA + start + len(spans) - 1)

    pattern = _rest_pattern("@" in text, "#" in text or "@" in text)
    return pattern.sub(keep, text), tuple(spans)


def _restore(text: str, kept: list[str]) -> str:
    if not kept:
        return text
    return _holes(text).format(*kept)


@lru_cache(maxsize=_TEXTS)
def _holes(text: str) -> str:
    """``text`` as a format string, ``{i}`` for its placeholder i (braces doubled).

    A fixed masked text comes back for many posts (only its links differ): it is cut once,
    and each post's restore is one ``str.format`` in C.
    """
    parts = _PLACEHOLDER_SPLIT.split(text)
    parts[0::2] = [piece.replace("{", "{{").replace("}", "}}") for piece in parts[0::2]]
    parts[1::2] = [f"{{{ord(mark) - _PUA}}}" for mark in parts[1::2]]
    return "".join(parts)


def _tidy_spaces(text: str) -> str:
    # Each rule runs only when its trigger is in the text: a substring test is far cheaper
    # than a regular expression, and most texts need none of these.
    if "  " in text or "\t" in text:
        text = _MULTI_SPACE.sub(" ", text)
    if " \n" in text or "\t\n" in text:
        text = _TRAILING.sub("", text)
    if "\n " in text or "\n\t" in text:
        text = _LEADING.sub("", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


_PUNCTUATION = frozenset(";:!?")
_BLANKS = f" \t{_NBSP}{NNBSP}"


def _space_before_punctuation(text: str, space: str, openers: str) -> str:
    """``space`` (and only it) between a word and ``; : ! ?``, not after a line start or ``openers``.

    A loop over the few punctuation runs of a text: a regular expression with a lookbehind
    would be tried at every character.
    """
    pieces: list[str] = []
    position = 0
    for match in _PUNCT_RUN.finditer(text):
        cut = match.start()
        while cut > position and text[cut - 1] in _BLANKS:
            cut -= 1
        if cut == 0 or text[cut - 1].isspace() or text[cut - 1] in openers:
            continue
        pieces.append(text[position:cut])
        pieces.append(space)
        position = match.start()
    pieces.append(text[position:])
    return "".join(pieces)


# Posts of one night differ mostly by their links (utm_content names segment and variant):
# with links masked, the same texts come back, so the rules run once per distinct text.
@lru_cache(maxsize=_TEXTS)
def _social_masked(text: str) -> str:
    if "..." in text:
        text = text.replace("...", "…")
    if '"' in text:
        text = _STRAIGHT_QUOTES.sub(lambda m: f"«{NNBSP}{m.group(1)}{NNBSP}»", text)
        if '"' in text:  # a quote without its pair: opening after a space, else closing
            text = _LONE_OPENING_QUOTE.sub("«" + NNBSP, text).replace('"', NNBSP + "»")
    text = text.replace("'", "’")
    if not _PUNCTUATION.isdisjoint(text):
        text = _space_before_punctuation(text, NNBSP, "([«\"'’")
    if "«" in text:
        text = _OPEN_GUILLEMET.sub("«" + NNBSP, text)
    if "»" in text:
        text = _CLOSE_GUILLEMET.sub(NNBSP + "»", text)
    if any(pair in text for pair in _NEXT_TO_NNBSP):
        text = _SPACE_NEXT_TO_NNBSP.sub("", text)
    return _tidy_spaces(text)


@lru_cache(maxsize=_TEXTS)
def _sms_masked(text: str) -> str:
    if not _PUNCTUATION.isdisjoint(text):
        text = _space_before_punctuation(text, " ", "([\"'")
    return _tidy_spaces(text)


@lru_cache(maxsize=_TEXTS)
def _html_masked(markup: str) -> str:
    from markupsafe import escape

    pieces = _TAG.split(markup)
    raw_text = False
    for index, piece in enumerate(pieces):
        if index % 2:  # a tag or a comment: left as written
            if _RAW_TEXT_ELEMENT.match(piece):
                raw_text = True
            elif piece.lower().startswith(("</style", "</script")):
                raw_text = False
            continue
        if raw_text or not piece.strip():
            continue
        lead = piece[: len(piece) - len(piece.lstrip())]
        tail = piece[len(piece.rstrip()) :]
        # Text nodes hold Jinja's escapes (&#39;, &amp;): unescape, fix, escape again so
        # the brief's "<script>" stays text and the apostrophe can become ’.
        fixed = _social_masked(_html.unescape(piece))
        pieces[index] = lead + str(escape(fixed)) + tail
    return "".join(pieces)


_MASKED_FIXERS = {"social": _social_masked, "sms": _sms_masked, "html": _html_masked}


def _gsm7_only(text: str) -> str:
    """Every character in GSM-7: converted where French has a plain form, else left out.

    Runs before links are masked, so hashtags are converted too; links are ASCII (the brief
    refuses others), so they pass unchanged.
    """
    if "«" in text or "»" in text:
        text = _SMS_GUILLEMETS.sub('"', text)
    text = to_gsm7(text)
    if set(text) <= _GSM7_ALL:
        return text
    # An emoji or a symbol has no GSM-7 form: one of them would turn the whole SMS into
    # UCS-2 (70 characters a part instead of 160), so it is left out.
    return "".join(c for c in text if c in _GSM7_ALL)


def fix(text: str, style: Style) -> str:
    """``text`` written in the typography of ``style`` (see the module's docstring)."""
    if style == "sms":
        text = _gsm7_only(text)
    masked, kept = _protect(text)
    return _restore(_MASKED_FIXERS[style](masked), kept)


@dataclass(frozen=True)
class Fixed:
    """A text after :func:`fix_checked`: the text, what still breaks the style, its links."""

    text: str
    issues: list[TypographyIssue]
    links: list[str]
    bare: str  # the text with each link replaced by a space


def fix_checked(text: str, style: Style) -> Fixed:
    """:func:`fix`, then :func:`check` of the result, sharing the work of both."""
    if style == "sms":
        text = _gsm7_only(text)
    masked, kept, count = _protect_counted(text)
    fixed = _MASKED_FIXERS[style](masked)
    result = _restore(fixed, kept)
    issues = [] if _masked_is_clean(fixed, style) else _ISSUES[style](result)
    links = kept[:count]
    bare = _restore(fixed, [" "] * count + kept[count:]) if kept else fixed
    return Fixed(result, issues, links, bare)


def _excerpt(text: str, position: int) -> str:
    return text[max(0, position - 12) : position + 12]


# Each pattern starts with the character it is about (then looks around), so the search
# jumps from candidate to candidate instead of trying every position.
_SOCIAL_RULES = (
    (re.compile(r"'"), "straight apostrophe (use ’)"),
    (re.compile(r'"'), "straight double quote (use « »)"),
    (
        re.compile(rf"[ {_NBSP}](?=[ {_NBSP}]*[;:!?])(?<=[^\s{_NBSP}{NNBSP}(\[«\"'’][ {_NBSP}])"),
        "space before ; : ! ? must be a narrow no-break space",
    ),
    (
        re.compile(rf"[;:!?](?<=[^\s{_NBSP}{NNBSP};:!?(\[«\"'’][;:!?])"),
        "missing narrow no-break space before ; : ! ?",
    ),
    (re.compile(rf"«(?=[^\s{NNBSP}]| +\S)"), "« must be followed by a narrow no-break space"),
    (
        re.compile(rf"»(?:(?<=[^\s{NNBSP}]»)|(?<=\S »))"),
        "» must be preceded by a narrow no-break space",
    ),
    (re.compile(r"(?<=\S) {2,}(?=\S)"), "double space"),
    (re.compile(r"\.\.\."), "three dots (use …)"),
)
_DOUBLE_SPACE = re.compile(r"(?<=\S) {2,}(?=\S)")


def _mask_same_length(text: str) -> str:
    # Protected spans become fillers of the same length, so positions stay those of ``text``.
    if _PLACEHOLDER.search(text):
        return text  # already masked by check()'s fast path
    masked, kept = _protect(text)
    return _PLACEHOLDER.sub(lambda m: "x" * len(kept[ord(m.group(0)) - _PUA]), masked)


def _issues_social(text: str) -> list[TypographyIssue]:
    masked = _mask_same_length(text)
    found = [
        TypographyIssue(match.start(), rule, _excerpt(text, match.start()))
        for pattern, rule in _SOCIAL_RULES
        for match in pattern.finditer(masked)
    ]
    return sorted(found, key=lambda issue: issue.position)


def _issues_sms(text: str) -> list[TypographyIssue]:
    found = [
        TypographyIssue(
            index,
            f"{char!r} (U+{ord(char):04X}) is not in GSM-7: the SMS would travel as UCS-2 (70 per part)",
            _excerpt(text, index),
        )
        for index, char in enumerate(text)
        if char not in GSM7_BASIC and char not in GSM7_EXTENSION and not _PLACEHOLDER.match(char)
    ]
    found.extend(
        TypographyIssue(m.start(), "double space", _excerpt(text, m.start()))
        for m in _DOUBLE_SPACE.finditer(text)
    )
    return sorted(found, key=lambda issue: issue.position)


def _text_nodes(markup: str) -> list[tuple[int, str]]:
    """The text nodes of ``markup`` that typography reads (not in style or script), each
    with its offset: what :func:`_issues_html` checks and :func:`_html_clean` too."""
    nodes: list[tuple[int, str]] = []
    offset = 0
    raw_text = False
    for index, piece in enumerate(_TAG.split(markup)):
        if index % 2:
            if _RAW_TEXT_ELEMENT.match(piece):
                raw_text = True
            elif piece.lower().startswith(("</style", "</script")):
                raw_text = False
        elif not raw_text and piece.strip():
            nodes.append((offset, piece))
        offset += len(piece)
    return nodes


def _html_clean(markup: str) -> bool:
    """``not _issues_html(markup)``, without making the issues: each text node stops at
    the first rule it breaks (the rules' triggers of :func:`_social_clean`)."""
    return all(_node_clean(piece) for _, piece in _text_nodes(markup))


@lru_cache(maxsize=_TEXTS)
def _node_clean(piece: str) -> bool:
    # A node (a footer's line, a paragraph) comes back in many e-mails: checked once.
    return _social_clean(_mask_same_length(_html.unescape(piece.strip())))


def _issues_html(markup: str) -> list[TypographyIssue]:
    found: list[TypographyIssue] = []
    for offset, piece in _text_nodes(markup):
        lead = len(piece) - len(piece.lstrip())
        # Positions inside a text node count unescaped characters: close enough to
        # find the spot, and the excerpt shows it.
        for issue in _issues_social(_html.unescape(piece.strip())):
            found.append(TypographyIssue(offset + lead + issue.position, issue.rule, issue.excerpt))
    return found


_ISSUES = {"social": _issues_social, "sms": _issues_sms, "html": _issues_html}


# Each social rule with what must be in a text for it to match (a substring, or any of a
# set of characters): most rules are skipped by a test far cheaper than a search.
_SOCIAL_TRIGGERS: tuple[tuple[re.Pattern[str], str | frozenset[str]], ...] = tuple(
    zip(
        (pattern for pattern, _ in _SOCIAL_RULES),
        ("'", '"', _PUNCTUATION, _PUNCTUATION, "«", "»", "  ", "..."),
        strict=True,
    )
)
_GSM7_OR_PLACEHOLDER = _GSM7_ALL | frozenset(chr(c) for c in range(_PUA, 0xF900))


def _social_clean(text: str) -> bool:
    for pattern, trigger in _SOCIAL_TRIGGERS:
        present = trigger in text if isinstance(trigger, str) else not trigger.isdisjoint(text)
        if present and pattern.search(text):
            return False
    return True


@lru_cache(maxsize=_TEXTS)
def _masked_is_clean(masked: str, style: Style) -> bool:
    if style == "social":
        return _social_clean(masked)
    if style == "sms":
        return set(masked) <= _GSM7_OR_PLACEHOLDER and not _DOUBLE_SPACE.search(masked)
    return _html_clean(masked)


def check(text: str, style: Style) -> list[TypographyIssue]:
    """Every place where ``text`` breaks the typography of ``style``; empty when it is right."""
    masked, _ = _protect(text)
    if _masked_is_clean(masked, style):
        return []
    return _ISSUES[style](text)
