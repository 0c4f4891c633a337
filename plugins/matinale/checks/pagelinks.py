"""The URL-valued attributes of an HTML page, with the line of their tag.

``page_links`` answers what ``html.parser`` answers (``_LinkParser``, the reference), and
answers it fast for the pages Matinale writes. ``html.parser`` calls Python code for every
tag; a page has about 440 of them, and the checks and publish read 200 pages each night.
Most pages are plain: a doctype, start and end tags with well-formed attributes, text
without ``<``, and a script and a style without ``</`` inside. For those, one compiled
pattern per tag finds the same attributes (``_plain_links``); only the tags whose
attributes name a link attribute are taken apart. Anything else (a comment, a stray ``<``,
an odd attribute name, a processing instruction, a script holding ``</``) sends the whole
page to ``html.parser``, so an unusual page is judged exactly as before, only slower.
``tests/unit/checks/test_pagelinks.py`` pins both answers equal on the pages the project
renders and on generated documents.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

__all__ = ["LINK_ATTRIBUTES", "page_links"]

#: The attributes whose value is a URL (or a list of them: ``srcset``).
LINK_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "poster", "data", "srcset", "cite", "data-image"}
)

Link = tuple[int, str, str, str]  # line, tag, attribute, value (stripped)


class _LinkParser(HTMLParser):
    """Collects the URL-valued attributes of an HTML page with their line numbers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[Link] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        for name, value in attrs:
            if name in LINK_ATTRIBUTES and value is not None:
                self.links.append((line, tag, name, value.strip()))


# The plain subset: names and values no parser reads two ways.
_NAME = r"[a-zA-Z][a-zA-Z0-9-]*"
_ATTRIBUTE = r"[a-zA-Z_:][-a-zA-Z0-9_:.]*"
_VALUE = r"""(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)"""
_START = re.compile(rf"<({_NAME})((?:\s+{_ATTRIBUTE}(?:\s*=\s*{_VALUE})?)*)\s*(/?)>")
_ATTRIBUTES = re.compile(rf"({_ATTRIBUTE})(?:\s*=\s*({_VALUE}))?")
_END = re.compile(rf"</{_NAME}\s*>")
_DOCTYPE = re.compile(r"<!doctype\s[^<>]*>", re.IGNORECASE)
# A tag worth taking apart: one of its attributes may be a link (a value that merely
# mentions ``href=`` is taken apart too, and found to hold nothing).
_MAY_LINK = re.compile(
    r"(?:^|\s)(?:" + "|".join(sorted(LINK_ATTRIBUTES, key=len, reverse=True)) + r")\s*=",
    re.IGNORECASE,
)
# Raw text: a script or style runs to its end tag; "</" anywhere inside is not plain.
_RAW = {"script", "style"}
_RAW_END = {tag: re.compile(rf"</{tag}\s*>", re.IGNORECASE) for tag in _RAW}


def _plain_links(text: str) -> list[Link] | None:
    """The links of a plain page, or None when the page is not plain (see the module)."""
    links: list[Link] = []
    find, count = text.find, text.count
    position, line, counted = 0, 1, 0
    while (start := find("<", position)) >= 0:
        tag = _START.match(text, start)
        if tag is None:
            other = _END.match(text, start) or _DOCTYPE.match(text, start)
            if other is None:
                return None
            position = other.end()
            continue
        name, attributes, closed = tag.groups()
        name = name.lower()
        if attributes and _MAY_LINK.search(attributes):
            line += count("\n", counted, start)
            counted = start
            for attribute, value in _ATTRIBUTES.findall(attributes):
                attribute = attribute.lower()
                if attribute not in LINK_ATTRIBUTES or not value:
                    continue  # an attribute without a value is None to html.parser
                if value[0] in "\"'":
                    value = value[1:-1]
                links.append((line, name, attribute, (unescape(value) if value else "").strip()))
        position = tag.end()
        if name in _RAW:
            end = find("</", position)
            if closed or end < 0 or not _RAW_END[name].match(text, end):
                return None
            position = end
    return links


def _parsed_links(text: str) -> list[Link]:
    parser = _LinkParser()
    parser.feed(text)
    return parser.links


def page_links(text: str) -> list[Link]:
    """``(line, tag, attribute, value)`` for every URL-valued attribute of the page, in
    document order, as ``html.parser`` reads them (the value unescaped and stripped)."""
    links = _plain_links(text)
    return _parsed_links(text) if links is None else links
