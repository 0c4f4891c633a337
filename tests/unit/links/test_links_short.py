"""A run's short codes: unique, stable between the tasks that print them, never another run's,
and the publish side that turns posts.json and cards.json into the run's link table."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matinale.links.codes import LinkStateError, is_code
from matinale.links.short import MAX_SEGMENTS, RunLinks, ShortLinks
from matinale.links.state import OVERVIEW, LinkState
from matinale.publish.links import LinkService, ServiceLinks, run_table
from matinale.publish.s3 import PublishError

BASE = "https://liens.ensemble-demain.example.org"
SEGMENTS = [f"s{i:03d}" for i in range(200)]
THEMES = ["sante", "logement", "climat"]
CHANNELS = ["email", "facebook", "instagram", "sms", "whatsapp", "x"]
ANGLES = ["devoir-civique", "mobiliser", "quotidien", "transmettre"]


def every_code(short: ShortLinks) -> list[str]:
    codes = []
    for s in SEGMENTS:
        for t in THEMES:
            codes.append(short.card(s, t))
            codes.extend(short.post(s, t, c, a) for c in CHANNELS for a in ANGLES)
    return codes


def test_every_link_of_a_run_has_its_own_code_under_the_runs_stem() -> None:
    run = RunLinks.new(BASE, "k7m")
    short = ShortLinks(run, SEGMENTS, THEMES, CHANNELS, ANGLES)
    codes = every_code(short)
    assert len(codes) == len(set(codes)) == 200 * 3 * (1 + 6 * 4)
    assert all(is_code(c) and c.startswith("k7m") for c in codes)
    # the link printed in a post is at most 60 characters (issue 17 item 5)
    assert max(len(short.url(c)) for c in codes) <= 60
    # keyed: not a counter a reader could walk (consecutive links are far apart)
    first = [run.number(c) for c in codes[:50]]
    assert sorted(first) != first


def test_content_and_visuals_compute_the_same_codes_without_talking() -> None:
    """Two tasks (posts, cards) build their own ShortLinks from the same links.json."""
    run = RunLinks.new(BASE, "k7m")
    stored = json.loads(json.dumps(run.to_json()))
    posts_side = ShortLinks(RunLinks.from_json(stored), SEGMENTS, THEMES, CHANNELS, ANGLES)
    cards_side = ShortLinks(RunLinks.from_json(stored), SEGMENTS, THEMES)
    assert posts_side.card("s042", "climat") == cards_side.card("s042", "climat")
    # and a batch of segments (the Param "segments") numbers them as the whole run does
    assert posts_side.post("s042", "sante", "sms", "quotidien") == ShortLinks(
        run, SEGMENTS, THEMES, CHANNELS, ANGLES
    ).post("s042", "sante", "sms", "quotidien")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=31**5 - 1))
def test_the_code_key_is_a_bijection(number: int) -> None:
    run = RunLinks(BASE, "abc", a=12345, b=678)
    assert run.number(run.code(number)) == number


def test_limits_and_broken_keys_are_named() -> None:
    run = RunLinks.new(BASE, "k7m")
    with pytest.raises(LinkStateError, match="961"):
        ShortLinks(run, [f"s{i}" for i in range(MAX_SEGMENTS + 1)], THEMES)
    with pytest.raises(LinkStateError, match="not numbered"):
        ShortLinks(run, SEGMENTS, THEMES, CHANNELS, ANGLES).post("s001", "sante", "x", "nouveau")
    with pytest.raises(LinkStateError, match="broken code key"):
        RunLinks(BASE, "k7m", a=31, b=0)  # a multiple of 31 is no bijection
    with pytest.raises(LinkStateError, match="origin"):
        RunLinks(f"{BASE}/", "k7m", a=1, b=0)


def test_stems_are_reserved_once_per_run(memory_s3: Any) -> None:
    state = LinkState(memory_s3, "b")
    stems = {state.reserve_stem("2026-11-24", f"run{i}") for i in range(30)}
    assert len(stems) == 30
    assert state.reserve_stem("2026-11-24", "run7") in stems


def test_the_pages_link_through_the_service(memory_s3: Any) -> None:
    service = LinkService(BASE, "b")
    links = ServiceLinks.ensure(service, memory_s3, ["s01", "s02"])
    s01, overview = links.tokens["s01"], links.tokens[OVERVIEW]
    assert links.file("s01/index.html") == f"{BASE}/p/{s01}"
    assert links.file("s01/cards/sante-square.jpg") == f"{BASE}/p/{s01}/cards/sante-square.jpg"
    assert links.file("index.html") == f"{BASE}/p/{overview}"
    assert links.file("contact-sheet.jpg") == f"{BASE}/p/{overview}/contact-sheet.jpg"
    assert links.owns(links.page("s02")) and not links.owns(
        "https://s3.example.org/x?X-Amz-Signature=1"
    )
    # tokens are kept across nights: a second publish finds the same ones
    assert ServiceLinks.ensure(service, memory_s3, ["s01", "s02"]).tokens == links.tokens


def _files(short: ShortLinks, run: RunLinks) -> dict[str, bytes]:
    code = short.post("s001", "sante", "sms", "quotidien")
    card = short.card("s001", "sante")
    posts = {
        "angle": "quotidien",
        "posts": [
            {
                "theme": "sante",
                "channel": "sms",
                "variant": v,
                "link": run.url(code),
                "destination": f"https://ensemble-demain.example.org/sante?utm_content={code}",
            }
            for v in (1, 2)
        ],
    }
    cards = {
        "cards": [
            {
                "theme": "sante",
                "link": run.url(card),
                "destination": f"https://ensemble-demain.example.org/sante?utm_content={card}",
            }
        ]
    }
    return {
        "s001/posts.json": json.dumps(posts).encode(),
        "s001/cards.json": json.dumps(cards).encode(),
    }


def test_the_run_table_holds_every_printed_short_link_and_cell() -> None:
    run = RunLinks.new(BASE, "k7m")
    short = ShortLinks(run, SEGMENTS, THEMES, CHANNELS, ANGLES)
    links, cells = run_table(_files(short, run), ["s001"], BASE)
    code = short.post("s001", "sante", "sms", "quotidien")
    assert links[code] == {
        "segment": "s001",
        "theme": "sante",
        "channel": "sms",
        "angle": "quotidien",
        "destination": f"https://ensemble-demain.example.org/sante?utm_content={code}",
    }
    assert links[short.card("s001", "sante")]["channel"] == "card"
    assert cells == {("s001", "sante", "sms", "quotidien")}


@pytest.mark.hostile
def test_one_code_with_two_destinations_stops_publish() -> None:
    run = RunLinks.new(BASE, "k7m")
    short = ShortLinks(run, SEGMENTS, THEMES, CHANNELS, ANGLES)
    files = _files(short, run)
    posts = json.loads(files["s001/posts.json"])
    posts["posts"][1]["destination"] = "https://ensemble-demain.example.org/autre"
    files["s001/posts.json"] = json.dumps(posts).encode()
    with pytest.raises(PublishError, match="two destinations"):
        run_table(files, ["s001"], BASE)


@pytest.mark.hostile
def test_a_page_token_reaches_only_its_own_listed_files(memory_s3: Any) -> None:
    """``/p/<token>/<file>``: the segment's files the manifest lists, nothing else (no
    ``..``, no other segment, no unlisted key); the overview's token: files beside it."""
    from matinale.links.resolve import Resolver
    from matinale.publish.pointers import promote

    prefix = "editions/2026-11-24/run1"
    files = ["s01/index.html", "s01/cards/sante-square.jpg", "s02/posts.json", "contact-sheet.jpg"]
    manifest = {
        "segments": [
            {"id": "s01", "page": "s01/index.html"},
            {"id": "s02", "page": "s02/index.html"},
        ],
        "files": [{"path": p} for p in files],
    }
    memory_s3.put_object(
        Bucket="b", Key=f"{prefix}/manifest.json", Body=json.dumps(manifest).encode()
    )
    promote(memory_s3, "b", date(2026, 11, 24), "run1")
    state = LinkState(memory_s3, "b")
    tokens = state.ensure_tokens(["s01", "s02", OVERVIEW])
    resolver = Resolver(memory_s3, "b", state)
    resolver.refresh_pointer()
    resolver.refresh_state()
    s01, overview = tokens["s01"], tokens[OVERVIEW]

    card = resolver.page_file(s01, "cards/sante-square.jpg")
    assert card.kind == "redirect" and f"{prefix}/s01/cards/sante-square.jpg" in card.url
    for path in (
        "../s02/posts.json",
        "cards/../../s02/posts.json",
        "/etc/passwd",
        "secret.json",
        "",
    ):
        assert resolver.page_file(s01, path).kind == "unknown", path
    assert resolver.page_file(overview, "contact-sheet.jpg").kind == "redirect"
    assert resolver.page_file(overview, "s02/posts.json").kind == "unknown"
    assert (
        resolver.page(overview).kind == "redirect"
        and f"{prefix}/index.html" in resolver.page(overview).url
    )
