"""How a post reads to a political-communication editor: the rules of issue 23, checked.

Each rule has a name (``address``, ``colon_capital``…) and finds the words that break it.
:func:`post_problems` lists one post's problems; :func:`check_post` raises a
:class:`QualityError` naming segment, channel, variant and the words (the content stage
and ``matinale check`` run it on every post); :func:`cross_similarity` measures how close
each social post is to the closest post of another age band (the checks stage fails over
:data:`MAX_CLOSE_SHARE`); :func:`measure` gives the README's figures for a whole edition.
Legal mentions (campaign.yaml's ``legal``) are left out of every rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from matinale.content.errors import ContentError
from matinale.content.links import _utm_problems
from matinale.content.typography import URL_PATTERN

if TYPE_CHECKING:
    from matinale.content.rules import ShingledTexts

__all__ = [
    "CLOSE",
    "INFINITIVES",
    "LINK_RULES",
    "MAX_CLOSE_SHARE",
    "RULES",
    "QualityError",
    "address_of",
    "check_bundle_similarity",
    "check_post",
    "cross_similarity",
    "measure",
    "post_problems",
    "starts_with_infinitive",
]

#: Two posts closer than this (Jaccard of 5-character shingles) read as the same post.
CLOSE = 0.7
#: The night fails when more social posts than this are CLOSE to another band's.
MAX_CLOSE_SHARE = 0.05

#: The rules every post is checked by in the night, in the order they are reported.
RULES = (
    "address",
    "colon_capital",
    "two_colons",
    "fragment",
    "link_in_bio",
    "facebook_link",
    "subject",
    "sms_message",
    "print_mention",
    "link_line",
    "utm_foreign",
    "utm_content",
)
#: The rules about links (part of RULES since every public link of a run with a link
#: service is its short link, and every link's utm_content an opaque code).
LINK_RULES = ("link_line", "utm_foreign", "utm_content")

# A shipped list of French infinitives: a claim (or a sentence after a title) that starts
# with one of these is a fragment ("Un médecin pour chacun. Ouvrir 500 maisons…").
INFINITIVES = frozenset(
    """
    accompagner accueillir agir aider aimer ajouter aller améliorer apprendre arrêter
    assurer augmenter baisser bâtir bloquer changer choisir combattre commencer comprendre
    construire créer défendre demander développer devenir diminuer donner doubler écouter
    élargir embaucher encadrer engager entendre équiper faire financer former fournir
    garantir gagner geler généraliser imposer inscrire installer instaurer interdire
    investir lancer libérer limiter lutter maintenir mettre moderniser mobiliser obtenir
    offrir ouvrir partager payer permettre plafonner porter pouvoir prendre préparer
    préserver privilégier produire promouvoir protéger rassembler réduire refuser
    relancer remettre rembourser rendre renforcer rénover réparer répondre rétablir
    réussir revaloriser revenir sauver simplifier soutenir supprimer tenir transformer
    transmettre travailler trouver valoriser venir vivre voter
    """.split()
)

_TU = re.compile(r"\b(?:tu|toi|ton|ta|tes|te|t[’'](?=\w))\b|\bt[’']", re.IGNORECASE)
_VOUS = re.compile(
    r"\b(?:vous|votre|vos)\b|(?:^|[:,.!?👉]\s*)(?!(?:chez|assez|nez)\b)(?:[A-ZÀ-Ý]?[a-zà-ÿ]+ez)\b",
    re.IGNORECASE | re.M,
)
_COLON_WORD = re.compile(r":\s+([A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ][\w’'-]*)")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n")
_AFTER_STOP = re.compile(r"[.!?][ \u00a0\u202f]+([A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ][\w’'-]*)")
_PRINT_ONLY = "ne pas jeter sur la voie publique"
_HASHTAG_LINE = re.compile(r"^(?:#\w+\s*)+$")


class QualityError(ContentError):
    """A post breaks a rule of how posts are written (quality.RULES): nothing was published."""


@dataclass(frozen=True)
class Problem:
    """One rule a post breaks, and the words that break it."""

    rule: str
    words: str


def address_of(text: str) -> frozenset[str]:
    """The forms of address ``text`` uses: ``{"tu"}``, ``{"vous"}``, both or none."""
    found = set()
    if _TU.search(text):
        found.add("tu")
    if _VOUS.search(text):
        found.add("vous")
    return frozenset(found)


def starts_with_infinitive(text: str) -> str:
    """The first word of ``text`` when it is a French infinitive of the shipped list, else ''."""
    word = re.split(r"[\s,’']", text.strip(), maxsplit=1)[0] if text.strip() else ""
    return word if word.lower() in INFINITIVES else ""


def _without(text: str, mentions: Iterable[str]) -> str:
    for mention in mentions:
        if mention:
            text = text.replace(mention, " ")
    return text


def _text_problems(text: str, proper_nouns: frozenset[str]) -> list[Problem]:
    """The rules that read any text: address, colons, fragments, print-only mentions."""
    return list(_bare_problems(URL_PATTERN.sub(" ", text), proper_nouns))


# Posts without their links come back from segment to segment: each is read once.
@lru_cache(maxsize=1 << 14)
def _bare_problems(bare: str, proper_nouns: frozenset[str]) -> tuple[Problem, ...]:
    problems: list[Problem] = []
    # Both forms of address (address_of's two searches, the second only after the first).
    if _TU.search(bare) and _VOUS.search(bare):
        words = sorted({m.group(0) for m in (*_TU.finditer(bare), *_VOUS.finditer(bare))})
        problems.append(Problem("address", " / ".join(words)))
    for match in _COLON_WORD.finditer(bare):
        word = match.group(1)
        if word not in proper_nouns and not (len(word) > 1 and word.isupper()):
            problems.append(Problem("colon_capital", f": {word}"))
    if bare.count(":") > 1:  # else no sentence has two
        for sentence in _SENTENCE_END.split(bare):
            if sentence.count(":") > 1:
                problems.append(Problem("two_colons", sentence.strip()[:80]))
    for match in _AFTER_STOP.finditer(bare):
        if match.group(1).lower() in INFINITIVES:
            problems.append(Problem("fragment", match.group(0).strip()[:60]))
    if _PRINT_ONLY in bare.lower():
        problems.append(Problem("print_mention", "Ne pas jeter sur la voie publique"))
    return tuple(problems)


def _link_problems(text: str, campaign_hosts: frozenset[str] | None) -> list[Problem]:
    return [
        Problem(rule, words)
        for url in URL_PATTERN.findall(text)
        for rule, words in _utm_problems(url, campaign_hosts)
    ]


def _line_of_link(text: str) -> list[Problem]:
    problems = []
    for line in text.splitlines():
        if "http" not in line and "www." not in line:
            continue  # no link can start in this line: every URL begins so
        for url in URL_PATTERN.findall(line):
            rest = line.replace(url, "").strip(" 👉→🔗")
            if rest:
                problems.append(Problem("link_line", line.strip()[:80]))
    return problems


def post_problems(
    post: Mapping[str, Any],
    *,
    legal: Sequence[str] = (),
    proper_nouns: Iterable[str] = (),
    campaign_hosts: Iterable[str] | None = None,
) -> list[Problem]:
    """Every rule of :data:`RULES` and :data:`LINK_RULES` that ``post`` (a posts.json entry) breaks.

    ``legal`` are the legal mentions as the post prints them (left out of every rule);
    ``campaign_hosts`` the campaign's own hosts (tracking parameters allowed there).
    """
    nouns = frozenset(proper_nouns)
    channel = str(post.get("channel", ""))
    text = _without(str(post.get("text", "")), legal)
    if channel == "email":
        text = text.split("\n--\n", 1)[0]  # the footer holds the legal mentions
    problems = _text_problems(text, nouns)
    problems += _line_of_link(text)
    if "lien en bio" in text.lower():
        problems.append(Problem("link_in_bio", "lien en bio"))
    if channel == "facebook":
        urls = URL_PATTERN.findall(text)
        tail = [line for line in text.strip().splitlines() if line.strip()]
        while tail and _HASHTAG_LINE.match(tail[-1].strip()):
            tail.pop()
        last = tail[-1] if tail else ""
        if len(urls) != 1 or urls[0] not in last:
            problems.append(
                Problem("facebook_link", f"{len(urls)} link(s): {' '.join(urls)[:120]}")
            )
    subject = str(post.get("subject", ""))
    if subject and (subject.rstrip().endswith(".") or subject.count(":") > 1):
        problems.append(Problem("subject", subject))
    if subject:
        problems += [p for p in _text_problems(subject, nouns) if p.rule != "two_colons"]
    if channel == "sms":
        message = str(post.get("message") or "")
        if not message or message not in text:
            problems.append(Problem("sms_message", text.split("\n", 1)[0][:80]))
    # The text's links, and the registered destination a short link leads to (it keeps the
    # UTM parameters the short link hides).
    hosts = None if campaign_hosts is None else frozenset(campaign_hosts)
    problems += _link_problems(str(post.get("text", "")), hosts)
    problems += _link_problems(str(post.get("destination", "")), hosts)
    return problems


def check_post(where: str, post: Mapping[str, Any], **options: Any) -> None:
    """Raise :class:`QualityError` for the first rule of :data:`RULES` that ``post`` breaks."""
    for problem in post_problems(post, **options):
        if problem.rule in RULES:
            raise QualityError(
                f"{where}: breaks the rule '{problem.rule}' with «\u202f{problem.words}\u202f»; "
                "fix the pieces in content_templates/framing.yaml, the template or the brief"
            )


# ---------------------------------------------------------------- similarity across segments


def _band_key(document: Mapping[str, Any]) -> str:
    """The age band a segment speaks to; territorial packs count as one band."""
    from matinale.segment import band_of

    if document.get("kind") == "territory":
        return "territory"
    return band_of(str(document.get("segment", "")))


#: Above this many cells (texts or lines × distinct shingles of one channel and theme), the
#: overlap counts come from a sparse product instead of a dense one (64M cells = 256 MiB).
_DENSE_CELLS = 64_000_000


def _overlaps(shingled: ShingledTexts, texts: Any) -> Any:
    """The shingles each pair of ``texts`` (ids in ``shingled``) shares, as float64
    integers (``count × count``, symmetric), each text's own count on the diagonal.

    A channel and theme's texts are built of few lines (a key message, a fact, an opener
    come back): shingles found in the same lines are one column, weighted by their number
    (200–1,000 columns instead of 1,000–3,700). A 0/1 texts × columns matrix (its lines'
    columns ORed as bits) times its weighted transpose, through BLAS: exact, as every
    partial sum is an integer below 2**24 in float32 (float64 above). Beyond
    :data:`_DENSE_CELLS`, the sparse product of the texts × shingles matrix.
    """
    import numpy as np

    lines, per_text = shingled.lines_of(texts)
    used, lines = np.unique(lines, return_inverse=True)
    columns, per_line = shingled.shingles_of(used)
    vocabulary, columns = np.unique(columns, return_inverse=True)
    count, height, width = len(texts), len(used), len(vocabulary)
    dtype = np.float32 if width < 2**24 else np.float64
    if not width:  # no text has a line
        return np.zeros((count, count))
    if max(count, height) * width > _DENSE_CELLS:
        from scipy import sparse

        def matrix(lengths: Any, indices: Any, shape: tuple[int, int]) -> Any:
            pointers = np.concatenate(([0], np.cumsum(lengths)))
            return sparse.csr_matrix((np.ones(indices.size, dtype), indices, pointers), shape)

        present = matrix(per_text, lines, (count, height)) @ matrix(
            per_line, columns, (height, width)
        )
        present.data[:] = 1  # a shingle of several of a text's lines counts once
        return (present @ present.T).toarray().astype(np.float64)
    found = np.zeros((width, height), dtype=bool)  # shingle × line
    found[columns, np.repeat(np.arange(height), per_line)] = True
    packed = np.packbits(found, axis=1)  # a shingle's lines, as bytes: one sort finds them
    _, first, weights = np.unique(
        packed.view(np.dtype((np.void, packed.shape[1]))).ravel(),
        return_index=True,
        return_counts=True,
    )
    by_line = np.packbits(found[first].T, axis=1)
    present = np.zeros((count, by_line.shape[1]), dtype=np.uint8)
    filled = per_text > 0  # a text without a line has no shingle
    starts = (np.cumsum(per_text) - per_text)[filled]
    if starts.size:
        present[filled] = np.bitwise_or.reduceat(by_line[lines], starts, axis=0)
    dense = np.unpackbits(present, axis=1, count=first.size).astype(dtype)
    return ((dense * weights.astype(dtype)) @ dense.T).astype(np.float64)


def _nearest(
    items: Sequence[tuple[str, str, int, Mapping[str, Any]]], shingled: ShingledTexts
) -> tuple[list[float], list[float], list[str]]:
    """For each post of one channel and theme (band, segment, text id in ``shingled``,
    post): the highest Jaccard to a post of another band, to a post of another profile of
    the same band, and the segment of the former (the first in ``items`` order).

    Every pair of distinct texts at once (:func:`_overlaps`), instead of the 180,000 Python
    set intersections of a loop (60 s a night at 200 segments); then the maxima over each
    run of posts of one segment. Equal to :func:`matinale.content.rules.jaccard` pair by
    pair (same integers, same division).
    """
    import numpy as np

    count = len(items)
    if not count:
        return [], [], []
    texts, inverse = np.unique([item[2] for item in items], return_inverse=True)
    common = _overlaps(shingled, texts)
    sizes = common.diagonal().copy()
    similarity = np.add.outer(sizes, sizes) - common  # the union, then the Jaccard
    with np.errstate(invalid="ignore"):
        np.divide(common, similarity, out=similarity)
    empty = sizes == 0
    similarity[np.ix_(empty, empty)] = 1.0  # two texts without a shingle: the same

    def codes(values: Iterable[str]) -> Any:
        ids: dict[str, int] = {}
        return np.fromiter((ids.setdefault(value, len(ids)) for value in values), np.intp, count)

    bands, segments = codes(item[0] for item in items), codes(item[1] for item in items)
    keys = bands * count + segments
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    # Each run's maxima (similarity is symmetric: over rows), as a run × post matrix. Runs
    # of about one length (a segment's posts): rows padded with their run's last, at once.
    lengths = np.diff(starts, append=count)
    if lengths.max() * starts.size <= 2 * count:
        padded = starts[:, None] + np.minimum(np.arange(lengths.max()), lengths[:, None] - 1)
        best = similarity[inverse[padded]].max(axis=1)[:, inverse]
    else:
        best = np.maximum.reduceat(similarity[inverse], starts, axis=0)[:, inverse]
    other_band = bands[starts][:, None] != bands
    sister = ~other_band & (segments[starts][:, None] != segments)
    others = np.where(other_band, best, 0.0).max(axis=0)
    first = (other_band & (best == others)).argmax(axis=0)
    nearest = np.where(others > 0, starts[first], 0)  # none: the first post, as argmax did
    return (
        others.tolist(),
        np.where(sister, best, 0.0).max(axis=0).tolist(),
        [items[j][1] for j in nearest.tolist()],
    )


def cross_similarity(
    documents: Sequence[Mapping[str, Any]],
    *,
    channels: Iterable[str] = ("x", "facebook", "instagram", "whatsapp"),
    legal: Sequence[str] = (),
    size: int = 5,
    close: float = CLOSE,
) -> dict[str, Any]:
    """How many social posts are ``close`` to a post of another age band, or of another
    profile of the same band, on the same channel and theme (links and legal lines removed).

    ``documents`` are posts.json documents. Returns the shares and the worst examples.
    """
    from threadpoolctl import threadpool_limits

    from matinale.content.rules import shingled_texts

    wanted = set(channels)
    texts: dict[str, int] = {}  # each distinct text (links and legal lines removed), once
    groups: dict[tuple[str, str], list[tuple[str, str, int, dict[str, Any]]]] = {}
    for document in documents:
        band, segment = _band_key(document), str(document.get("segment"))
        for post in document.get("posts", []):
            if post.get("channel") in wanted:
                bare = URL_PATTERN.sub(" ", _without(str(post.get("text", "")), legal))
                item = (band, segment, texts.setdefault(bare, len(texts)), post)
                groups.setdefault((post["channel"], post["theme"]), []).append(item)
    shingled = shingled_texts(list(texts), size)
    # One BLAS thread: on 2 cores shared with other work, two were up to 2-3× slower here.
    with threadpool_limits(limits=1, user_api="blas"):
        measured = [(items, *_nearest(items, shingled)) for items in groups.values()]
    return _tally(measured, close)


def _tally(
    measured: Iterable[tuple[Sequence[Any], Sequence[float], Sequence[float], Sequence[str]]],
    close: float,
) -> dict[str, Any]:
    """:func:`cross_similarity`'s figures: each group's posts and :func:`_nearest`'s answers."""
    total = other_band = same_band = 0
    worst: list[tuple[float, str]] = []
    for items, others, sames, nearests in measured:
        total += len(items)
        same_band += sum(best_same > close for best_same in sames)
        for (_, segment, _text, post), best_other, nearest in zip(
            items, others, nearests, strict=True
        ):
            if best_other > close:
                other_band += 1
                where = f"segment {segment}, channel {post['channel']}, theme {post['theme']}"
                example = f"variant {post['variant']} ≈ {nearest} ({best_other:.2f})"
                worst.append((best_other, f"{where}, {example}"))
    worst.sort(reverse=True)
    return {
        "posts": total,
        "close_other_band": other_band,
        "close_same_band": same_band,
        "share_other_band": round(other_band / total, 4) if total else 0.0,
        "share_same_band": round(same_band / total, 4) if total else 0.0,
        "examples": [text for _, text in worst[:10]],
    }


def measure(
    documents: Sequence[Mapping[str, Any]],
    *,
    legal: Sequence[str] = (),
    proper_nouns: Iterable[str] = (),
    campaign_hosts: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The README's figures for an edition: share of posts breaking each rule, similarity
    across bands and profiles, SMS that carry a message."""
    posts = [post for document in documents for post in document.get("posts", [])]
    broken: dict[str, int] = dict.fromkeys(RULES, 0)
    for post in posts:
        for rule in {
            p.rule
            for p in post_problems(
                post, legal=legal, proper_nouns=proper_nouns, campaign_hosts=campaign_hosts
            )
        }:
            broken[rule] += 1
    sms = [post for post in posts if post.get("channel") == "sms"]
    with_message = sum(
        1 for post in sms if post.get("message") and post["message"] in post.get("text", "")
    )
    return {
        "posts": len(posts),
        "rules": {
            rule: round(count / len(posts), 4) if posts else 0.0 for rule, count in broken.items()
        },
        "similarity": cross_similarity(documents, legal=legal),
        "sms_with_message": f"{with_message}/{len(sms)}",
    }


def check_bundle_similarity(
    files: Mapping[str, bytes],
    report: Any,
    *,
    max_share: float = MAX_CLOSE_SHARE,
    load: Callable[[str, bytes], Any] | None = None,
) -> dict[str, Any]:
    """The checks stage's part: a finding when more than ``max_share`` (campaign.yaml
    ``content.max_close_share``, default :data:`MAX_CLOSE_SHARE`) of the bundle's social
    posts are CLOSE to a post of another age band (``report``: a CheckReport). ``load``
    parses a posts.json (path, bytes; default ``json.loads``): the checks stage passes the
    documents its text checks parsed already. Returns the figures."""
    import json

    from matinale.checks.report import Finding

    read = load or (lambda _path, data: json.loads(data))
    # Posts written before pieces were tagged (no "opener" recorded) are not compared.
    documents = [
        {**document, "posts": [p for p in document.get("posts", []) if "opener" in p]}
        for document in (read(p, data) for p, data in files.items() if p.endswith("/posts.json"))
    ]
    result = cross_similarity(documents)
    if result["share_other_band"] > max_share:
        report.add(
            Finding(
                "quality",
                "posts.json",
                "similarity",
                "; ".join(result["examples"][:3]),
                f"{result['share_other_band']:.0%} of social posts read like another age band's "
                f"(Jaccard > {CLOSE}; at most {max_share:.0%}, content.max_close_share): give "
                "each band its own claim and arguments in the brief and its own pieces in "
                "framing.yaml",
            )
        )
    return result
