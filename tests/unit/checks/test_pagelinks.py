"""``page_links``: html.parser's answer, fast on plain pages, html.parser itself otherwise."""

from __future__ import annotations

import random

import pytest
from bundle_samples import build, render_sample_pages

from matinale.bundle import read_bundle_files
from matinale.checks.pagelinks import _parsed_links, _plain_links, page_links
from matinale.store import LocalStore


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every HTML page the project writes: the bundle's (overview included) and the pages
    publish renders, with and without beacons."""
    store = LocalStore(tmp_path_factory.mktemp("pages"))
    build(store, "b", packs="served")
    found = {
        path: data.decode()
        for path, data in read_bundle_files(store, "b").items()
        if path.endswith(".html")
    }
    for origin in (None, "https://liens.example.fr"):
        for path, data in render_sample_pages(store, "b", beacon_origin=origin).items():
            found[f"{origin}:{path}"] = data.decode()
    return found


def test_the_project_pages_take_the_fast_path_and_find_what_html_parser_finds(
    pages: dict[str, str],
) -> None:
    assert len(pages) >= 5
    for path, text in pages.items():
        fast = _plain_links(text)
        assert fast is not None, f"{path} is not plain: the checks would parse it slowly"
        assert fast == _parsed_links(text), path
        assert any(attribute == "href" for _, _, attribute, _ in fast), path


PLAIN = [
    '<!DOCTYPE html>\n<a href="x.html">x</a>',
    "<A HREF='Y.HTML' Class=z>y</A>",
    '<img\n  alt=""\n  src="data:image/png;base64,AAAA"\n/>',
    '<a href=" cards/a.jpg " download>a</a>',
    '<a href="?q=1&amp;r=2#top">&eacute;</a>',
    '<a href="">empty</a><a href>none</a>',
    "<a href=unquoted/>",
    '<form action="https://x.fr/p" method=post><button formaction="b.html">b</button></form>',
    '<video poster="p.jpg"><source srcset="a.jpg 1x, b.jpg 2x"></video>',
    '<object data="o.svg"></object><blockquote cite="c.html"></blockquote>',
    '<div data-image="i.jpg" data-href="not-a-link" title="href=x">t</div>',
    '<script src="s.js">if (a < b && c > d) { x = "<a href=y>"; }</script><p>z</p>',
    "<style>a{b:c}</STYLE >\n<link href='l.css'>",
    '<a href="a.html" href="b.html">twice</a>',
    '<a title="x > y" href="q.html">quote holds ></a>',
]

NOT_PLAIN = [
    '<!-- <a href="hidden.html"> --><a href="shown.html">x</a>',
    'a < b <a href="x.html">x</a>',
    '<a href="x.html"class="c">no space</a>',
    "<a href==x.html>double equals</a>",
    "<?xml version='1.0'?><a href='x'>",
    '<script>document.write("</p>")</script><a href="x">',
    '<script src="s.js"/><img src="z.jpg"></script>',
    '<a href="x.html"',
    '<a / href="x.html">slash</a>',
    "<![CDATA[<a href='x'>]]>",
    "</ a>",
    '<a href="x.html" @click="y">vue</a>',
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_documents_are_read_fast_and_alike(text: str) -> None:
    fast = _plain_links(text)
    assert fast is not None
    assert fast == _parsed_links(text)


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_other_documents_go_to_html_parser(text: str) -> None:
    assert _plain_links(text) is None
    assert page_links(text) == _parsed_links(text)


_PIECES = [
    "<p>",
    "</p>",
    "<DIV class='c'>",
    "</div >",
    "\n",
    "text é ",
    "&amp;",
    "a > b",
    "<br/>",
    '<a href="{v}">',
    "<a href='{v}' title=\"t\">",
    "<a HREF={u}>",
    '<img src="{v}" alt="">',
    '<img\nsrc="{v}"\n/>',
    '<link rel=icon href="{v}">',
    '<area href="{v}" data-x="{v}">',
    "<script>var s = '<b>';</script>",
    "<style>p > a { x: y }</style>",
    "<!-- c -->",
    "a < b",
    "<a href=={u}>",
    '<a href="{v}"class=x>',
    "<script>'</div>'</script>",
]
_VALUES = [
    "x.html",
    " y.html ",
    "https://example.fr/?a=1&amp;b=2",
    "data:image/png;base64,AA==",
    "javascript:alert(1)",
    "",
    "&#106;avascript:x",
    "a > b",
]


def test_generated_documents_get_html_parser_s_answer() -> None:
    rng = random.Random(20261207)
    plain = 0
    for _ in range(3000):
        text = "".join(
            rng.choice(_PIECES)
            .replace("{v}", rng.choice(_VALUES).replace('"', ""))
            .replace("{u}", rng.choice(["x.html", "a/b.jpg", "https://example.fr/p"]))
            for _ in range(rng.randint(1, 14))
        )
        assert page_links(text) == _parsed_links(text), text
        plain += _plain_links(text) is not None
    assert 300 < plain < 2700  # both paths were exercised
