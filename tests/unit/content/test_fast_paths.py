"""The content stage's fast paths (memos, shortcuts) give what the plain forms they replace
give: each plain form is kept here as the reference, and compared on varied inputs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from matinale.content import quality
from matinale.content.quality import Problem, post_problems
from matinale.content.typography import URL_PATTERN

_OPAQUE = quality.re.compile(r"^[a-z0-9]{6,12}$")


def _reference_link_problems(text: str, campaign_hosts: frozenset[str] | None) -> list[Problem]:
    """quality._link_problems as it was: every URL split and its query parsed."""
    problems: list[Problem] = []
    for url in URL_PATTERN.findall(text):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if not any(key.startswith("utm_") for key in query):
            continue
        host = (parts.hostname or "").lower()
        own = campaign_hosts is None or any(
            host.removeprefix("www.") == h or host.removeprefix("www.").endswith(f".{h}")
            for h in campaign_hosts
        )
        if not own:
            problems.append(Problem("utm_foreign", host))
        content = (query.get("utm_content") or [""])[0]
        if content and not _OPAQUE.match(content):
            problems.append(Problem("utm_content", f"utm_content={content}"))
    return problems


def _reference_text_problems(text: str, proper_nouns: frozenset[str]) -> list[Problem]:
    """quality._text_problems as it was: no memo, no shortcut."""
    problems: list[Problem] = []
    bare = URL_PATTERN.sub(" ", text)
    forms = quality.address_of(bare)
    if len(forms) > 1:
        words = sorted(
            {m.group(0) for m in (*quality._TU.finditer(bare), *quality._VOUS.finditer(bare))}
        )
        problems.append(Problem("address", " / ".join(words)))
    for match in quality._COLON_WORD.finditer(bare):
        word = match.group(1)
        if word not in proper_nouns and not (len(word) > 1 and word.isupper()):
            problems.append(Problem("colon_capital", f": {word}"))
    for sentence in quality._SENTENCE_END.split(bare):
        if sentence.count(":") > 1:
            problems.append(Problem("two_colons", sentence.strip()[:80]))
    for match in quality._AFTER_STOP.finditer(bare):
        if match.group(1).lower() in quality.INFINITIVES:
            problems.append(Problem("fragment", match.group(0).strip()[:60]))
    if quality._PRINT_ONLY in bare.lower():
        problems.append(Problem("print_mention", "Ne pas jeter sur la voie publique"))
    return problems


_HOSTS = ["ensemble-demain.example.org", "www.ensemble-demain.example.org", "insee.fr", "a.b"]
_QUERY_PIECES = [
    "utm_source=matinale",
    "utm_content=abcdef1234",
    "utm_content=65plus-p01",
    "utm_content=",
    "%75tm_content=Bad-Code",
    "utm%5Fmedium=x",
    "UTM_source=x",
    "u+tm_=1",
    "utm_content=ab+cd",
    "utm_content=abc%64efgh",
    "utm_content=abcdefgh=",
    "utm_content==x",
    "utm_medium",
    "a=1",
    "b=%41",
    "utm_",
    "x=utm_source",
    "&",
    "=",
]


@st.composite
def _urls(draw: st.DrawFn) -> str:
    host = draw(st.sampled_from(_HOSTS))
    path = draw(st.sampled_from(["", "/", "/s/abc12345", "/sante", "/a%20b", "/http"]))
    pieces = draw(st.lists(st.sampled_from(_QUERY_PIECES), max_size=4))
    query = ("?" + "&".join(pieces)) if pieces else ""
    fragment = draw(st.sampled_from(["", "#top", "#utm_x"]))
    return f"https://{host}{path}{query}{fragment}"


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(_urls(), st.text(max_size=12)), max_size=5),
    st.sampled_from([None, frozenset(), frozenset({"ensemble-demain.example.org"})]),
)
def test_link_problems_equal_the_parse_of_every_url(pieces: list[str], hosts: object) -> None:
    text = " ".join(pieces)
    assert quality._link_problems(text, hosts) == _reference_link_problems(text, hosts)  # type: ignore[arg-type]
    assert quality._link_problems(text, hosts) == _reference_link_problems(text, hosts)  # type: ignore[arg-type]


_WORDS = [
    "Vous",
    "tu",
    "ton",
    "Partagez",
    ": Santé :",
    "a:b",
    "…",
    "?",
    "votre",
    "t’as",
    "Signez",
    "chez",
    ":",
    " : ",
    "Santé",
    "UE",
    ". Ouvrir",
    "! Agir",
    "\n",
    "ne pas jeter sur la voie publique",
    "https://ensemble-demain.example.org/x?utm_content=a",
    "écoles",
    " ",
    ".",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=6)), max_size=14),
    st.sampled_from([frozenset(), frozenset({"Santé"})]),
)
def test_text_problems_equal_the_plain_reading(pieces: list[str], nouns: frozenset[str]) -> None:
    text = " ".join(pieces)
    for _ in range(2):  # the memo's first answer and its second
        found = quality._text_problems(text, nouns)
        assert found == _reference_text_problems(text, nouns)
        found.append(Problem("x", "y"))  # the caller's list is its own
    post = {"channel": "x", "text": text, "destination": text}
    assert post_problems(post, proper_nouns=nouns) == post_problems(post, proper_nouns=nouns)


_HTML_PIECES = [
    "<p>",
    "</p>",
    "<a href='https://x.org/?a=1&amp;b=2'>",
    "</a>",
    "<style>",
    "p{a:b}",
    "</style>",
    "<script>",
    "x = 'a';",
    "</SCRIPT>",
    "<!-- a : b -->",
    "&#39;",
    "&amp;",
    "&quot;",
    "«",
    "»",
    "\u202f",
    "\u00a0",
    " ",
    "  ",
    "...",
    "…",
    "'",
    "’",
    '"',
    ":",
    " :",
    "\u202f:",
    "?!",
    "Vous",
    "07:30",
    "#Santé",
    "a@b.fr",
    "\ue000",
    "\n",
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_HTML_PIECES), st.text(max_size=4)), max_size=16))
def test_html_clean_is_no_html_issue(pieces: list[str]) -> None:
    from matinale.content import typography

    markup = "".join(pieces)
    assert typography._html_clean(markup) == (not typography._issues_html(markup))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_HTML_PIECES), max_size=16))
def test_html_node_memo_gives_the_check_of_the_node(pieces: list[str]) -> None:
    from matinale.content import typography

    node = "".join(pieces)
    expected = typography._social_clean(
        typography._mask_same_length(typography._html.unescape(node.strip()))
    )
    assert typography._node_clean(node) == expected
    assert typography._node_clean(node) == expected


def _reference_line_of_link(text: str) -> list[Problem]:
    """quality._line_of_link as it was: every line searched for links."""
    problems = []
    for line in text.splitlines():
        for url in URL_PATTERN.findall(line):
            if line.replace(url, "").strip(" 👉→🔗"):
                problems.append(Problem("link_line", line.strip()[:80]))
    return problems


_LINE_PIECES = [
    "https://a.org/x",
    "http://b.fr",
    "www.c.fr/y",
    "HTTPS://d.fr",
    "http",
    "www.",
    "👉",
    "→ ",
    " ",
    "\n",
    "\r\n",
    "\u2028",
    "Signez",
    "«https://e.fr»",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_LINE_PIECES), st.text(max_size=4)), max_size=12))
def test_line_of_link_equals_the_search_of_every_line(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert quality._line_of_link(text) == _reference_line_of_link(text)
