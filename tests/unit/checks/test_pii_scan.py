"""The PII scanner finds exactly what a brute-force scan finds.

The scanner only builds full-name candidates inside runs of known name words and hashes
each distinct candidate once over a whole batch of texts. The reference below is the
straightforward scan it replaced (every 2..k-gram of every text, every id-like token),
written over plain sets of the raw values instead of keyed hashes: property-based tests
plant names (either order, any case, accents, punctuation), ids, e-mails and phones in
random text and compare the two, text by text.
"""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matinale.checks import PiiScanner, normalise_name, normalise_phone
from matinale.checks.pii import _MAX_NAME_WORDS, _MIN_ID_LENGTH, _mask_name
from matinale.checks.pii_text import _BREAKS, _DATA_URI, _EMAIL, _ID_TOKENS, _PHONE
from matinale.privacy import mask_email, mask_value


def _reference(people: pd.DataFrame, scanner: PiiScanner, text: str) -> Counter[tuple[str, str]]:
    """The brute-force scan over the raw values (what the hashed scanner must equal)."""
    ids = {str(v).strip().casefold() for v in people["supporter_id"].fillna("")}
    ids = {v for v in ids if len(v) >= _MIN_ID_LENGTH}
    names: set[str] = set()
    longest = 2
    for first, last in zip(
        people["first_name"].fillna(""), people["last_name"].fillna(""), strict=True
    ):
        first, last = normalise_name(str(first)), normalise_name(str(last))
        if first and last:
            names |= {f"{first} {last}", f"{last} {first}"}
            longest = max(longest, len(f"{first} {last}".split()))
    longest = min(longest, _MAX_NAME_WORDS)
    found: Counter[tuple[str, str]] = Counter()
    text = _DATA_URI.sub(" ", text)
    for match in _EMAIL.finditer(text):
        if match.group(0).casefold() not in scanner.allowed_emails:
            found[("e-mail address", mask_email(match.group(0)))] += 1
    for match in _PHONE.finditer(text):
        if normalise_phone(match.group(0)) not in scanner.allowed_phones:
            found[("phone number", mask_value(re.sub(r"\D", "", match.group(0))))] += 1
    tokens = {
        m.group(0).strip("._-").casefold() for pattern in _ID_TOKENS for m in pattern.finditer(text)
    }
    for token in tokens:
        if len(token) >= _MIN_ID_LENGTH and token in ids:
            found[("supporter id", mask_value(token))] += 1
    # A full name never spans the end of a sentence or a line (see _BREAKS).
    parts = _BREAKS.split(text.replace("\x00", "\x01").replace("\x02", "\x01"))
    grams = {
        " ".join(words[i : i + n])
        for words in (normalise_name(part).split() for part in parts)
        for n in range(2, longest + 1)
        for i in range(len(words) - n + 1)
    }
    for gram in grams:
        if gram in names and gram not in scanner.allowed_names:
            found[("supporter full name", _mask_name(gram))] += 1
    return found


# Few syllables, so that name words recur across people and in the surrounding text.
_SYLLABLES = ("an", "el", "jean", "le", "ma", "rie", "du", "pont", "zo", "é", "gall", "o")
_WORD = st.lists(st.sampled_from(_SYLLABLES), min_size=1, max_size=3).map("".join)
_NAME = st.lists(_WORD, min_size=1, max_size=3).map(" ".join)
_FILLER = (
    "et",
    "la",
    "Merci",
    "à",
    "de",
    "le",
    "pour",
    "ce matin",
    "500",
    "S",
    "!",
    "?",
    "…",
    "»",
    "«",
    "\n",
    "-",
    "'",
    "’",
    ".",
    ",",
    "  ",
)
_SEPARATORS = (
    " ",
    "  ",
    ", ",
    "-",
    "'",
    "’",
    "\n",
    " (",
    ") ",
    ". ",
    "_",
    "/",
    "",
    ":",
    "\x00",
    "\x01",
    "\x02",
    "! ",
    ".",
    "…\n",
    " • ",
    " « ",
)


def _variant(draw: st.DrawFn, value: str) -> str:
    """How a name may be written in a post: case, accents, hyphens or apostrophes."""
    style = draw(st.sampled_from(("same", "upper", "title", "accents", "hyphen", "apostrophe")))
    if style == "upper":
        return value.upper()
    if style == "title":
        return value.title()
    if style == "accents":
        return value.replace("e", "é").replace("o", "ô")
    if style == "hyphen":
        return value.replace(" ", "-")
    if style == "apostrophe":
        return value.replace(" ", "'")
    return value


@st.composite
def _people(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(
        st.lists(
            st.tuples(
                st.one_of(st.text("AB0123456789-_.", min_size=3, max_size=10), st.none()),
                st.one_of(_NAME, st.just(""), st.none()),
                st.one_of(_NAME, st.just(""), st.none()),
            ),
            min_size=1,
            max_size=12,
        )
    )
    return pd.DataFrame(rows, columns=["supporter_id", "first_name", "last_name"])


@st.composite
def _text(draw: st.DrawFn, people: pd.DataFrame) -> str:
    firsts = [str(v) for v in people["first_name"].dropna() if v]
    lasts = [str(v) for v in people["last_name"].dropna() if v]
    ids = [str(v) for v in people["supporter_id"].dropna() if v]
    pieces = []
    for _ in range(draw(st.integers(0, 14))):
        choice = draw(st.integers(0, 8))
        if choice == 0 and firsts and lasts:  # a planted full name, either order
            first, last = draw(st.sampled_from(firsts)), draw(st.sampled_from(lasts))
            pieces.append(
                _variant(draw, draw(st.sampled_from((f"{first} {last}", f"{last} {first}"))))
            )
        elif choice == 1 and (firsts or lasts):  # a name word alone
            pieces.append(_variant(draw, draw(st.sampled_from(firsts + lasts))))
        elif choice == 2 and ids:
            value = draw(st.sampled_from(ids))
            pieces.append(
                draw(
                    st.sampled_from(
                        (value, value.upper(), value.lower(), f"({value}).", f"_{value}_")
                    )
                )
            )
        elif choice == 3:
            pieces.append(
                draw(
                    st.sampled_from(
                        ("jean.dupont@example.org", "contact@ensemble-demain.example.org", "a@b.fr")
                    )
                )
            )
        elif choice == 4:
            pieces.append(
                draw(
                    st.sampled_from(
                        ("06 39 98 12 34", "+33 6 39 98 12 34", "01 99 00 00 01", "0639981234")
                    )
                )
            )
        elif choice == 5:
            pieces.append(draw(_WORD))
        elif choice == 6:
            pieces.append(
                "data:image/jpeg;base64,QUJD"
                + draw(st.sampled_from(("jeanpont", "AB12345678", "==")))
            )
        else:
            pieces.append(draw(st.sampled_from(_FILLER)))
        pieces.append(draw(st.sampled_from(_SEPARATORS)))
    return "".join(pieces)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_scanner_finds_exactly_what_brute_force_finds(data: st.DataObject) -> None:
    people = data.draw(_people(), label="people")
    firsts = [str(v) for v in people["first_name"].dropna() if v]
    allow = data.draw(
        st.lists(
            st.sampled_from(
                [*firsts, "Camille Durand", "contact@ensemble-demain.example.org", "01 99 00 00 01"]
            ),
            max_size=3,
        ),
        label="allow",
    )
    texts = data.draw(st.lists(_text(people), min_size=1, max_size=8), label="texts")
    scanner = PiiScanner.from_frames([people], allow)
    # One batch (candidates shared across texts), repeated texts included.
    items = [(f"t{i}", text) for i, text in enumerate(texts + texts[:2])]
    got: dict[str, Counter[tuple[str, str]]] = {where: Counter() for where, _ in items}
    for where, kind, masked in scanner.scan(items):
        got[where][(kind, masked)] += 1
    for where, text in items:
        assert got[where] == _reference(people, scanner, text), (where, text)
    # Texts met again in a later batch come from the memo, with the same answer.
    again = [("again", texts[0])]
    assert Counter((k, m) for _, k, m in scanner.scan(again)) == _reference(
        people, scanner, texts[0]
    )


@pytest.mark.parametrize(
    "text",
    [
        "Merci à Marie-Anne du Pont et à Jean Le Gall, et à Le Gall Jean !",
        "marie anne du pont le gall jean marie anne",
        "Du Pont Marie-Anne (S00012345) écrit à jean.legall@example.fr, 06 39 98 12 34",
        "Jean Jean Le Gall Le Gall",
    ],
)
def test_scanner_matches_brute_force_on_overlapping_names(text: str) -> None:
    people = pd.DataFrame(
        {
            "supporter_id": ["S00012345", "ab-12.34", None],
            "first_name": ["Marie-Anne", "Jean", "Le"],
            "last_name": ["du Pont", "Le Gall", "Gall"],
        }
    )
    scanner = PiiScanner.from_frames([people], ["Marie Anne"])
    got = Counter((kind, masked) for _, kind, masked in scanner.scan([("f", text)]))
    assert got == _reference(people, scanner, text)
    assert got  # every one of these texts holds personal data


def test_a_full_name_never_spans_the_end_of_a_sentence_or_a_line() -> None:
    """A supporter called Camille Paris is not named by "… à Paris.\nCamille Durand …"
    (a merged night's Paris pack was blocked so), nor by "Paris ! Camille"; "Paris Camille"
    and "PARIS, Camille" (a list) still are."""
    people = pd.DataFrame(
        {"supporter_id": ["S00012345"], "first_name": ["Camille"], "last_name": ["Paris"]}
    )
    scanner = PiiScanner.from_frames([people], ["Camille Durand"])
    texts = {
        "sentence": "nous le vivrons à Paris.\nCamille Durand rénovera un million de logements.",
        "line": "À Paris\nCamille Durand",
        "exclamation": "Paris ! Camille Durand arrive",
        "bullet": "Paris • Camille Durand",
        "plain": "Merci Paris Camille",
        "list": "PARIS, Camille",
        "url": "https://example.org/camille.paris",
    }
    found = {where for where, _, _ in scanner.scan(texts.items())}
    assert found == {"plain", "list", "url"}


# What the scan used before it found both kinds of id token in one pass (issue 21 item 3):
# two patterns over the whole text.
_TWO_PASS_ID_PATTERNS = (
    re.compile(r"[0-9A-Za-z]{6,}"),
    re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{4,}[0-9A-Za-z]"),
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ09_.-@ +\x00\x01é", max_size=60))
def test_one_pass_id_candidates_equal_the_two_pass_scan(text: str) -> None:
    """Protects the one-pass id scan: the same candidate tokens as the two patterns it replaced."""
    from matinale.checks.pii_text import _id_candidates

    two_pass = set(_TWO_PASS_ID_PATTERNS[0].findall(text))
    two_pass.update(_TWO_PASS_ID_PATTERNS[1].findall(text))
    assert _id_candidates(text) == two_pass


# The phone pattern as first written (issue 21: rewritten to start on a character class).
_PHONE_AS_WRITTEN = re.compile(
    r"(?<![0-9A-Za-z+])(?:\+33[\s.-]?|0033[\s.-]?|0)[1-9](?:[\s.-]?[0-9]{2}){4}(?![0-9A-Za-z])"
)
_PHONE_PART = st.sampled_from(["", "a", "+", "0", "1", " ", "\x00", "é"])
_PHONE_LIKE = st.tuples(
    _PHONE_PART,
    st.sampled_from(["0", "+33", "0033", "+33 ", "0033.", "00", "+", "33"]),
    st.sampled_from(["6", "1", "0", "9"]),
    st.lists(st.sampled_from(["12", " 34", ".56", "-78", "90"]), min_size=4, max_size=4)
    | st.lists(st.sampled_from(["12", " 34", "9", " ", "-"]), min_size=3, max_size=5),
    _PHONE_PART,
).map(lambda parts: parts[0] + parts[1] + parts[2] + "".join(parts[3]) + parts[4])
_PHONEISH = (
    st.text(alphabet="0123+ .-a\x00", max_size=40)
    | st.lists(_PHONE_LIKE, min_size=1, max_size=3).map("".join)
    | st.lists(_PHONE_LIKE, min_size=1, max_size=3).map(" ".join)
)


@settings(max_examples=500, deadline=None)
@given(_PHONEISH)
def test_the_phone_pattern_finds_what_it_was_written_to_find(text: str) -> None:
    """Protects the faster phone pattern: the same matches, at the same places."""
    assert [m.span() for m in _PHONE.finditer(text)] == [
        m.span() for m in _PHONE_AS_WRITTEN.finditer(text)
    ]


_EMAILISH = st.text(alphabet="ab1.-_%+@ \x00é", max_size=50) | st.lists(
    st.sampled_from(["jean", ".", "dupont", "@", "example", ".fr", ".c", "-", "+", " ", "@x"]),
    max_size=14,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(_EMAILISH)
def test_addresses_found_around_each_at_sign_are_the_pattern_s(text: str) -> None:
    """Protects the "@"-anchored search: exactly ``_EMAIL.finditer``'s matches."""
    from matinale.checks.pii_text import _emails

    assert [m.span() for m in _emails(text)] == [m.span() for m in _EMAIL.finditer(text)]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='.!?;:… \n\r\x00•«»()[]“”"|a\x0b\xa0', max_size=40))
def test_the_scan_s_sentence_breaks_are_the_written_ones(text: str) -> None:
    """Protects the faster break pattern: the same matches as _BREAKS."""
    from matinale.checks.pii_text import _BREAKS_SCAN

    assert [m.span() for m in _BREAKS_SCAN.finditer(text)] == [
        m.span() for m in _BREAKS.finditer(text)
    ]


def test_positions_of_a_word() -> None:
    from matinale.checks.pii_text import _positions

    words = ["\x00", "a", "\x00", "b", "c", "\x00"]
    assert _positions(words, "\x00") == [0, 2, 5]
    assert _positions(words, "c") == [4]
    assert _positions(words, "z") == []
    assert _positions([], "a") == []


def test_addresses_next_to_each_other() -> None:
    from matinale.checks.pii_text import _emails

    for text in ("a@b.fr.c@d.fr", "x a@b.fr,c@d.fr", "@@a@b.fr", "a@b.fr@c.fr x@y.fr"):
        assert [m.group(0) for m in _emails(text)] == _EMAIL.findall(text), text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_findings_do_not_depend_on_how_texts_are_batched(data: st.DataObject) -> None:
    """Protects the bounded batches: each text's findings, order included, are those it has
    when scanned alone, whatever texts share its batch and however small batches are."""
    import matinale.checks.pii as pii

    people = data.draw(_people(), label="people")
    texts = data.draw(st.lists(_text(people), min_size=1, max_size=8, unique=True), label="texts")
    alone = {text: list(PiiScanner.from_frames([people]).scan([("f", text)])) for text in texts}
    for size in (1, 40, 10_000_000):
        previous, pii._BATCH_CHARS = pii._BATCH_CHARS, size
        try:
            scanner = PiiScanner.from_frames([people])
            scanner.remember(texts)
            for text in texts:
                assert list(scanner.scan([("f", text)])) == alone[text], (size, text)
        finally:
            pii._BATCH_CHARS = previous


def test_a_text_lists_its_names_in_its_own_order_whatever_came_before() -> None:
    """Protects batch independence on the case that broke it: an earlier text of the batch
    named the second name first."""
    people = pd.DataFrame(
        {
            "supporter_id": ["S00012345", "S00067890"],
            "first_name": ["Anne", "Jean"],
            "last_name": ["Dupont", "Le Gall"],
        }
    )
    scanner = PiiScanner.from_frames([people])
    both = "Merci à Anne Dupont. Et à Jean Le Gall."
    scanner.remember(["Jean Le Gall est là.", both])
    assert [masked for _, _, masked in scanner.scan([("f", both)])] == [
        _mask_name("anne dupont"),
        _mask_name("jean le gall"),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_texts_of_several_lines_give_what_the_whole_text_gives(data: st.DataObject) -> None:
    """Protects the line-by-line examination (``remember``): each text's findings, order
    included, are those of ``_examine`` on the whole text, phones across lines included."""
    people = data.draw(_people(), label="people")
    lines = data.draw(st.lists(_text(people), min_size=1, max_size=6), label="lines")
    # Lines shared between texts, and numbers cut across a line break.
    texts = [
        "\n".join(lines),
        "\n".join(reversed(lines)),
        "appelez le 06 39\n98 12 34 ou\n+33 6 39 98\n12 34",
        *lines,
    ]
    scanner = PiiScanner.from_frames([people])
    found = [list(scanner.scan([("f", text)])) for text in texts]
    reference = PiiScanner.from_frames([people])
    for text, got in zip(texts, found, strict=True):
        whole = reference._examine([text]).get(text, [])
        assert got == [("f", kind, masked) for kind, masked in whole], text
    assert [kind for _, kind, _ in found[2]] == ["phone number", "phone number"]
