"""The links check: absolute links are https on an allowed domain, a share endpoint or
the bundle's own presigned link; relative links stay in the run and name a bundle file.

Share endpoints (pages only) are those of the channel registry, content_templates/channels.yaml
(:func:`matinale.content.channels.share_endpoints`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from matinale.checks.pagelinks import page_links
from matinale.checks.report import CheckReport, Finding
from matinale.checks.texts import ParsedTexts
from matinale.content.channels import share_endpoints

__all__: list[str] = []

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _host_allowed(host: str, domains: Iterable[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _shown(url: str) -> str:
    """A URL without its query (presigned signatures, tracking) for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:120] if parts.scheme else url[:120]


def _absolute_link_problem(
    url: str,
    *,
    page: bool,
    domains: tuple[str, ...],
    own: Callable[[str], bool],
    origins: dict[str, str | None] | None = None,
    shares: tuple[str, ...] = (),
) -> str | None:
    """What is wrong with an absolute link, or None. ``origins`` remembers the verdict on each
    ``scheme://host`` part (all that matters once the link is neither our own nor a share);
    ``shares`` are the share endpoints a page may link to (fallbacks of the Web Share API)."""
    if own(url):
        return None
    if page and url.startswith(shares):
        return None
    # The scheme and host of ``url`` are those of its beginning up to the path, query or
    # fragment (what urlsplit takes as scheme and netloc): judge that part once.
    start = url.find("://")
    end = (
        min((i for i in (url.find(c, start + 3) for c in "/?#") if i >= 0), default=len(url))
        if start >= 0
        else len(url)
    )
    origin = url[:end]
    if origins is not None and origin in origins:
        return origins[origin]
    parts = urlsplit(origin)
    if parts.scheme != "https":
        problem: str | None = "link is not https: use an https address"
    else:
        host = (parts.hostname or "").lower()
        problem = (
            None
            if _host_allowed(host, domains)
            else f"domain {host!r} is not in links.allowed_domains of campaign.yaml: fix the link or allow the domain"
        )
    if origins is not None:
        origins[origin] = problem
    return problem


def _relative_link_problem(base: str, value: str, files: Container[str]) -> str | None:
    target = value.split("#", 1)[0].split("?", 1)[0]
    if not target:
        return None  # in-page anchor
    if target.startswith("/") or target.startswith("\\"):
        return "absolute path: links between bundle files must be relative"
    parts: list[str] = []
    for part in (PurePosixPath(base).parent / target).parts:
        if part == "..":
            if not parts:
                return "relative link leaves the edition's folder"
            parts.pop()
        elif part not in {".", ""}:
            parts.append(part)
    if "/".join(parts) not in files and "/".join(parts) != "manifest.json":
        return "relative link to a file that is not in the bundle"
    return None


def _absolute_urls(string: str) -> list[str]:
    """The absolute links in a string (``_URL`` matches, trailing punctuation dropped).

    Only the whitespace-separated pieces holding ``://`` are searched: no match holds
    whitespace or starts without ``://`` ahead, and a piece starts after whitespace (a
    word boundary, like the start of the string), so the matches are the same; pieces
    such as an inlined image's base64 make ``_URL`` backtrack at every ``+`` and ``/``.
    """
    if "://" not in string:
        return []
    return [
        match.group(0).rstrip(".,;:!?)]'")
        for piece in string.split()
        if "://" in piece
        for match in _URL.finditer(piece)
    ]


def _check_links(
    texts: list[tuple[str, str, bytes]],
    parsed: ParsedTexts,
    files: Container[str],
    kinds: Mapping[str, str],
    report: CheckReport,
    *,
    domains: tuple[str, ...],
    own: Callable[[str], bool],
    templates_dir: Path | None = None,
) -> None:
    report.counts.setdefault("links", {"findings": 0})
    problems: dict[tuple[str, bool], str | None] = {}  # (link, on a page) -> problem
    origins: dict[str, str | None] = {}  # scheme://host -> problem
    # Per distinct string, on a page or not: how many absolute links it holds, and the
    # wrong ones ((shown, problem) pairs) for the few strings that hold any. A file's count
    # is then a sum mapped in C over its strings, and only a file holding a wrong string
    # is walked string by string (a night: 700,000 strings, 80,000 distinct, no finding).
    counts: dict[bool, dict[str, int]] = {False: {}, True: {}}
    wrong: dict[bool, dict[str, list[tuple[str, str]]]] = {False: {}, True: {}}
    seen: dict[tuple[bool, bool, bytes], tuple[int, list[tuple[str, str, str]]]] = {}
    pages = any(kinds.get(label) in {"page", "overview"} for label, _, _ in texts)
    shares = share_endpoints(templates_dir) if pages else ()

    def judge(url: str, page: bool) -> str | None:
        problem = problems.get((url, page), "")
        if problem == "":
            problem = problems[(url, page)] = _absolute_link_problem(
                url, page=page, domains=domains, own=own, origins=origins, shares=shares
            )
        return problem

    for label, member, data in texts:
        page = kinds.get(label) in {"page", "overview"}
        html = member.endswith(".html")
        key = (label.endswith(".json"), page, data)
        if not html and key in seen:  # a copy: same bytes, read the same way, same answers
            count, found = seen[key]
        else:
            items = parsed(label, data)
            counted, bad = counts[page], wrong[page]
            # Most of a file's strings were judged in files before: filter, then dedupe.
            for string in dict.fromkeys([s for s in items.texts if s not in counted]):
                urls = _absolute_urls(string)
                counted[string] = len(urls)
                judged = [(_shown(url), problem) for url in urls if (problem := judge(url, page))]
                if judged:
                    bad[string] = judged
            count = sum(map(counted.__getitem__, items.texts))
            found = (
                []
                if not bad or bad.keys().isdisjoint(items.texts)
                else [
                    (items.where(index), shown, problem)
                    for index, string in enumerate(items.texts)
                    for shown, problem in bad.get(string, ())
                ]
            )
            if not html:
                seen[key] = (count, found)
        if count:
            report.count("links", "absolute_links", count)
        for where, shown, problem in found:
            report.add(Finding("links", label, where, shown, problem))
        if html:
            _check_html_links(label, member, data, files, report)


def _check_html_links(
    label: str, member: str, data: bytes, files: Container[str], report: CheckReport
) -> None:
    for line, tag, attribute, value in page_links(data.decode("utf-8", errors="replace")):
        where = f"line {line} <{tag} {attribute}>"
        scheme = urlsplit(value).scheme.lower()
        if scheme == "data":
            # "data:," is the empty favicon that stops browsers asking the server for one.
            if value != "data:," and (tag != "img" or not value.startswith("data:image/")):
                report.add(
                    Finding(
                        "links",
                        label,
                        where,
                        value[:40],
                        "data: URI outside an image; inline only images",
                    )
                )
            continue
        if scheme in {"http", "https"}:
            continue  # already checked above with the text
        report.count("links", "relative_links")
        if scheme or value.startswith("//"):
            report.add(
                Finding(
                    "links",
                    label,
                    where,
                    value[:80],
                    f"{scheme or 'protocol-relative'} link: only https and bundle links are allowed",
                )
            )
            continue
        problem = _relative_link_problem(member if "!" in label else label, value, files)
        if problem and "!" not in label:
            report.add(Finding("links", label, where, value[:80], problem))
