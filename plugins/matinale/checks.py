"""Pre-publish checks: nothing reaches S3 unless every one of them passes.

Four checks, each counted in ``compliance.json`` and each finding named precisely
(file, field, value, what to do):

- **pii**: e-mail addresses and French phone numbers anywhere in the text; any supporter id
  of 6 characters or more; any supporter's full name (first + last, either order). The
  scanner is built from the private supporter data but keeps only keyed 64-bit hashes of the
  normalised ids and names (the key is random per scanner and never stored), so it holds no
  copy of the data and can be logged or pickled without leaking it. Values it reports are
  masked. ``privacy.pii_allowlist`` in campaign.yaml lists the candidate, spokespeople and
  the campaign's own addresses that may appear.
- **links**: every absolute link is https on an allowed domain (``links.allowed_domains``),
  a share endpoint (WhatsApp, X, Facebook: pages only), or the bundle's own presigned link;
  relative links stay inside the run and point at a file of the bundle.
- **sizes**: every file is under its kind's limit (``limits`` in campaign.yaml).
- **manifest**: every file is listed with the right size and sha256, nothing is missing or
  extra, and the manifest and compliance files match their JSON Schemas.
"""

from __future__ import annotations

import bisect
import io
import itertools
import json
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from matinale.privacy import mask_email, mask_value

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "CHECKS",
    "CHECKS_VERSION",
    "DEFAULT_LIMITS",
    "SHARE_ENDPOINTS",
    "CheckReport",
    "ChecksFailed",
    "Finding",
    "PiiScanner",
    "Sha256s",
    "check_bundle",
    "check_manifest",
    "checks_fingerprint",
    "limits_from",
    "load_schema",
    "normalise_name",
    "normalise_phone",
    "safe_member_name",
    "schema_problems",
]

CHECKS = ("pii", "links", "sizes", "manifest")

#: Bytes per file kind (see ``bundle.kind_of``). Override any of them in campaign.yaml under
#: ``limits:`` (e.g. ``page: 1500000``). A page over 1 MB is slow on patchy 4G.
DEFAULT_LIMITS: dict[str, int] = {
    "page": 1_000_000,
    "overview": 1_000_000,
    "preview": 150_000,
    "card": 4_000_000,
    "pack": 60_000_000,
    "posts": 5_000_000,
    "cards": 1_000_000,
    "compliance": 1_000_000,
    "other": 10_000_000,
}

#: Share-intent endpoints the activist page may link to (fallbacks of the Web Share API).
SHARE_ENDPOINTS = ("https://wa.me/", "https://x.com/intent/", "https://www.facebook.com/sharer/")

_MAX_LISTED = 25
_MIN_ID_LENGTH = 6
_MAX_NAME_WORDS = 6
_COMBINING = re.compile(r"[\u0300-\u036f]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# French numbers, national or international form, with or without separators. Bounded by
# non-alphanumerics so that hex signatures and long digit runs never look like phones.
_PHONE = re.compile(r"(?<![0-9A-Za-z+])(?:\+33[\s.-]?|0033[\s.-]?|0)[1-9](?:[\s.-]?[0-9]{2}){4}(?![0-9A-Za-z])")
_ID_TOKENS = (re.compile(r"[0-9A-Za-z]+"), re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]*[0-9A-Za-z]"))
# The same tokens, only those of _MIN_ID_LENGTH characters or more: a token is a maximal
# run (first pattern) or the longest run ending in a letter or digit (second), so the
# shorter ones are skipped, not cut, and no new token appears.
_ID_CANDIDATES = (re.compile(r"[0-9A-Za-z]{6,}"), re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{4,}[0-9A-Za-z]"))
# Joins the texts of a batch. No pattern here matches it or takes it for a space, and it is
# a starter for NFKD (no reordering across it), so each text is treated as if alone.
_SEP = "\x00"
_WORD_BYTES = bytes(c if c == 0 or chr(c) in "0123456789abcdefghijklmnopqrstuvwxyz" else 32 for c in range(256))
_DATA_URI = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_TEXT_SUFFIXES = (".html", ".json", ".md", ".txt", ".csv")


class ChecksFailed(RuntimeError):
    """At least one pre-publish check failed: nothing was published."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        # The same name or link often appears in posts, page and pack: show each problem once,
        # where it first appears (source data first), with how many other places repeat it.
        groups: dict[tuple[str, str, str], list[Finding]] = {}
        for finding in report.findings:
            groups.setdefault((finding.check, finding.value, finding.problem), []).append(finding)
        lines = []
        for same in list(groups.values())[:_MAX_LISTED]:
            others = f" [and {len(same) - 1} other places]" if len(same) > 1 else ""
            lines.append(f"{same[0]}{others}")
        more = len(groups) - len(lines)
        if more > 0:
            lines.append(f"… and {more} more problems")
        counts = ", ".join(f"{name}: {report.counts[name]['findings']}" for name in report.counts)
        super().__init__(
            f"pre-publish checks failed ({counts}); nothing was published, the pointers still "
            "name the previous run. Fix the brief, templates or allowlist and rerun:\n  " + "\n  ".join(lines)
        )


@dataclass(frozen=True)
class Finding:
    """One problem, precise enough to fix without opening the file: file, field, value."""

    check: str
    file: str
    field: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.file}: {self.field}: {self.problem} ({self.value})"


@dataclass
class CheckReport:
    """Counts per check (for compliance.json) and the findings (for the error message)."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings

    def count(self, check: str, name: str, amount: int = 1) -> None:
        bucket = self.counts.setdefault(check, {"findings": 0})
        bucket[name] = bucket.get(name, 0) + amount

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
        self.count(finding.check, "findings")

    def summary(self) -> dict[str, Any]:
        """What was checked and how many findings: counts only, never a value."""
        return {"passed": self.passed, "checks": {name: dict(sorted(c.items())) for name, c in sorted(self.counts.items())}}

    def raise_for_findings(self) -> None:
        if self.findings:
            raise ChecksFailed(self)


def limits_from(raw: Mapping[str, Any] | None) -> dict[str, int]:
    """The size limits: defaults, overridden by campaign.yaml's ``limits`` section."""
    limits = dict(DEFAULT_LIMITS)
    for kind, value in dict((raw or {}).get("limits") or {}).items():
        if kind not in limits:
            raise ValueError(f"campaign.yaml: limits.{kind} is not a file kind; use one of {sorted(limits)}")
        try:
            limits[kind] = int(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"campaign.yaml: limits.{kind} = {value!r} must be a number of bytes") from exc
    return limits


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in ``matinale/schemas/`` (``manifest`` or ``compliance``)."""
    path = Path(__file__).parent / "schemas" / f"{name}.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


class Sha256s:
    """SHA-256 (hex) of bytes objects, each hashed once per stage.

    A digest is reused only for the very same object (kept here, so its id cannot be given
    to another object), never for other bytes, even equal ones: a stage that checks the
    files, then rebuilds the manifest of the same objects, reads each gigabyte once.
    """

    def __init__(self) -> None:
        self._known: dict[int, tuple[bytes, str]] = {}

    def __call__(self, data: bytes) -> str:
        import hashlib

        known = self._known.get(id(data))
        if known is not None and known[0] is data:
            return known[1]
        digest = hashlib.sha256(data).hexdigest()
        self._known[id(data)] = (data, digest)
        return digest


# --- PII --------------------------------------------------------------------------------


def normalise_name(text: str) -> str:
    """Lowercase ASCII words separated by one space: ``Hélène  D'Aubigné`` → ``helene d aubigne``."""
    folded = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()
    return _NOT_ALNUM.sub(" ", folded).strip()


def normalise_phone(text: str) -> str:
    """A French number in E.164 (``+33612345678``); other values keep their digits and ``+``."""
    digits = re.sub(r"[^0-9+]", "", text)
    if digits.startswith("0033"):
        return "+33" + digits[4:]
    if digits.startswith("0") and len(digits) == 10:
        return "+33" + digits[1:]
    return digits


def _mask_name(text: str) -> str:
    return " ".join(mask_value(word) for word in text.split())


def _hash(values: list[str] | np.ndarray, key: str) -> np.ndarray:
    import numpy as np
    from pandas.util import hash_array

    if len(values) == 0:
        return np.empty(0, dtype=np.uint64)
    return hash_array(np.asarray(values, dtype=object), hash_key=key, categorize=False)


def _contains(sorted_unique: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Membership by binary search in a sorted array (np.isin re-hashes the big side each call)."""
    import numpy as np

    if len(sorted_unique) == 0:
        return np.zeros(len(values), dtype=bool)
    index = np.searchsorted(sorted_unique, values).clip(max=len(sorted_unique) - 1)
    return sorted_unique[index] == values


def _unique(parts: list[np.ndarray]) -> np.ndarray:
    import numpy as np

    return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)


def _select(values: list[str], sorted_hashes: np.ndarray, key: str) -> list[str]:
    """The values whose keyed hash is in ``sorted_hashes`` (one vectorised hash and search)."""
    import numpy as np

    if not values or len(sorted_hashes) == 0:
        return []
    hit = _contains(sorted_hashes, _hash(values, key))
    return [values[index] for index in np.flatnonzero(hit)]


def _normalised_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """``normalise_name`` over a column, computed once per distinct value (names repeat a lot)."""
    values = frame[column].astype(object).fillna("").astype(str)
    uniques = values.unique()
    table = {value: normalise_name(value) for value in uniques}
    return values.map(table)


class PiiScanner:
    """Finds personal data in text without holding a copy of it (keyed hashes only)."""

    def __init__(
        self,
        *,
        id_hashes: np.ndarray,
        name_hashes: np.ndarray,
        word_hashes: np.ndarray,
        key: str,
        name_words: int,
        allowlist: Iterable[str] = (),
        stats: Mapping[str, int] | None = None,
    ) -> None:
        self._ids = id_hashes
        self._names = name_hashes
        self._words = word_hashes  # every word of a first or last name (full names are made of them)
        self._key = key
        self._name_words = max(2, min(name_words, _MAX_NAME_WORDS))
        self.allowed_emails: frozenset[str] = frozenset()
        self.allowed_phones: frozenset[str] = frozenset()
        self.allowed_names: frozenset[str] = frozenset()
        self._allow(allowlist)
        self._memo: dict[str, list[tuple[str, str]]] = {}
        self.stats = dict(stats or {})

    @property
    def name_words(self) -> int:
        """The most words a full name of the reference has (how long a name n-gram gets)."""
        return self._name_words

    def __repr__(self) -> str:
        return f"PiiScanner({len(self._ids)} ids, {len(self._names)} names, hashed)"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a PiiScanner stays in the process that built it; rebuild it from the private store")

    def _allow(self, allowlist: Iterable[str]) -> None:
        emails, phones, names = set(), set(), set()
        for entry in allowlist:
            text = str(entry).strip()
            if "@" in text:
                emails.add(text.casefold())
            elif re.fullmatch(r"[+0-9 .()-]{6,}", text):
                phones.add(normalise_phone(text))
            elif text:
                words = normalise_name(text).split()
                names.add(" ".join(words))
                names.add(" ".join(words[1:] + words[:1]))
        self.allowed_emails = frozenset(emails)
        self.allowed_phones = frozenset(phones)
        self.allowed_names = frozenset(names)

    @classmethod
    def from_frames(cls, frames: Iterable[pd.DataFrame], allowlist: Iterable[str] = ()) -> PiiScanner:
        """Build from supporter frames (any of ``supporter_id``, ``first_name``, ``last_name``)."""
        import pandas as pd

        key = secrets.token_hex(8)  # 16 characters: SipHash's key, never stored
        ids: list[np.ndarray] = []
        names: list[np.ndarray] = []
        name_words: list[np.ndarray] = []
        words = 2
        people = 0
        for frame in frames:
            people += len(frame)
            if "supporter_id" in frame:
                raw = frame["supporter_id"].astype(object).fillna("").astype(str).str.strip().str.casefold()
                long_enough = raw[raw.str.len() >= _MIN_ID_LENGTH].unique()
                ids.append(_hash(long_enough, key))
            if "first_name" in frame and "last_name" in frame:
                first = _normalised_column(frame, "first_name")
                last = _normalised_column(frame, "last_name")
                both = (first != "") & (last != "")
                first, last = first[both], last[both]
                full = pd.concat([first + " " + last, last + " " + first], ignore_index=True).unique()
                if len(full):
                    words = max(words, int(pd.Series(full).str.count(" ").max()) + 1)
                names.append(_hash(full, key))
                parts = {word for part in pd.concat([first, last]).unique() for word in part.split()}
                name_words.append(_hash(sorted(parts), key))
        id_hashes = _unique(ids)
        name_hashes = _unique(names)
        word_hashes = _unique(name_words)
        stats = {"people": people, "supporter_ids": len(id_hashes), "full_names": len(name_hashes)}
        return cls(id_hashes=id_hashes, name_hashes=name_hashes, word_hashes=word_hashes, key=key, name_words=words, allowlist=allowlist, stats=stats)

    @classmethod
    def from_store(cls, store: Any, keys: Iterable[str], allowlist: Iterable[str] = ()) -> PiiScanner:
        """Build from the private Parquet files of a run (those that exist)."""
        frames = []
        for key in keys:
            if store.exists(key):
                frame = store.get_frame(key)
                frames.append(frame[[c for c in ("supporter_id", "first_name", "last_name") if c in frame]])
        return cls.from_frames(frames, allowlist)

    def scan(self, items: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str, str]]:
        """``(field, text)`` pairs → ``(field, kind, masked value)`` for every personal datum.

        Results are remembered per distinct text: a bundle repeats the same lines in posts,
        pages and packs and across segments, so each is examined once.
        """
        items = list(items)
        fresh = [text for text in dict.fromkeys(text for _, text in items) if text not in self._memo]
        if fresh:
            self._memo.update(self._examine(fresh))
        for where, text in items:
            for kind, masked in self._memo[text]:
                yield where, kind, masked

    def remember(self, texts: Iterable[str]) -> None:
        """Examine every text not seen yet, in one batch (then ``scan`` answers from memory)."""
        fresh = [text for text in dict.fromkeys(texts) if text not in self._memo]
        if fresh:
            self._memo.update(self._examine(fresh))

    def _name_grams(self, texts: list[str], words: list[str], known: set[str]) -> dict[str, list[str]]:
        """Every 2..k-gram inside a run of known name words → the texts holding it.

        ``words`` are the words of all ``texts`` in order, with ``_SEP`` between two texts
        (never a known word, so no run spans two texts).
        """
        import numpy as np

        grams: dict[str, list[str]] = {}
        if len(known) == 0 or not words:
            return grams
        flags = np.fromiter(map(known.__contains__, words), dtype=bool, count=len(words))
        pairs = np.flatnonzero(flags[:-1] & flags[1:])
        if len(pairs) == 0:
            return grams
        separators = np.flatnonzero(np.fromiter(map(_SEP.__eq__, words), dtype=bool, count=len(words)))
        position = np.flatnonzero(flags)
        breaks = np.flatnonzero(np.diff(position) != 1) + 1
        run_starts = np.concatenate(([0], breaks))
        run_ends = np.concatenate((breaks, [len(position)]))
        several = run_ends - run_starts >= 2
        longest = self._name_words
        for first, last in zip(position[run_starts[several]].tolist(), position[run_ends[several] - 1].tolist(), strict=True):
            run = words[first : last + 1]  # a maximal run of name words
            text = texts[int(np.searchsorted(separators, first))]
            found: dict[str, None] = {}
            for n in range(2, min(longest, len(run)) + 1):
                found.update(dict.fromkeys(" ".join(run[i : i + n]) for i in range(len(run) - n + 1)))
            for gram in found:
                if gram not in self.allowed_names:
                    holders = grams.setdefault(gram, [])
                    if not holders or holders[-1] is not text:
                        holders.append(text)
        return grams

    def _examine(self, texts: list[str]) -> dict[str, list[tuple[str, str]]]:
        """What personal data each text holds, for a batch of distinct texts.

        The batch is joined into one string (``_SEP`` between texts, so that no match can
        span two texts) and the phone, id and name patterns run once over it; a phone belongs
        to the text its offset falls in. E-mail addresses are looked for only in texts with
        an ``@``. Candidate ids and names are gathered over the whole batch, so each distinct
        one is hashed and looked up once, in one vectorised call per kind.

        A full name is first + last, each made of name words, so a name n-gram can only lie
        inside a run of consecutive words that are each a word of some supporter's first or
        last name. The distinct words of the batch are hashed first, and n-grams are built
        only inside such runs: this finds exactly what building every n-gram of every text
        would find (a gram with any other word cannot be a full name), for a small part of
        the work. The known words stay local to this call; the scanner keeps only hashes.
        """
        results: dict[str, list[tuple[str, str]]] = {text: [] for text in texts}
        clean = [_DATA_URI.sub(" ", text) if "data:" in text else text for text in texts]  # images, not words
        # A separator inside a text would split it: any other character no pattern uses will do.
        clean = [text.replace(_SEP, "\x01") if _SEP in text else text for text in clean]
        joined = _SEP.join(clean)
        starts = list(itertools.accumulate((len(text) + 1 for text in clean[:-1]), initial=0))

        def owner(offset: int) -> list[tuple[str, str]]:
            return results[texts[bisect.bisect_right(starts, offset) - 1]]

        for text, cleaned in zip(texts, clean, strict=True):
            if "@" in cleaned:  # most texts have none: skip the pattern there
                for match in _EMAIL.finditer(cleaned):
                    value = match.group(0)
                    if value.casefold() not in self.allowed_emails:
                        results[text].append(("e-mail address", mask_email(value)))
        for match in _PHONE.finditer(joined):
            value = match.group(0)
            if normalise_phone(value) not in self.allowed_phones:
                owner(match.start()).append(("phone number", mask_value(re.sub(r"\D", "", value))))

        if len(self._ids):
            raw = set(_ID_CANDIDATES[0].findall(joined))
            raw.update(_ID_CANDIDATES[1].findall(joined))
            tokens = sorted({token.strip("._-").casefold() for token in raw} - {""})
            hits = _select([t for t in tokens if len(t) >= _MIN_ID_LENGTH], self._ids, self._key)
            if hits:  # rare: find which texts hold them (ids are ASCII: casefold keeps them whole)
                for text, cleaned in zip(texts, clean, strict=True):
                    folded = cleaned.casefold()
                    present = [hit for hit in hits if hit in folded]
                    if present:
                        seen = {m.group(0).strip("._-").casefold() for pattern in _ID_TOKENS for m in pattern.finditer(cleaned)}
                        results[text].extend(("supporter id", mask_value(hit)) for hit in present if hit in seen)

        if len(self._names):
            # normalise_name over the whole batch: the words, with _SEP between texts.
            folded = _COMBINING.sub("", unicodedata.normalize("NFKD", joined)).casefold()
            # What _NOT_ALNUM does, keeping _SEP as a word of its own: any non-ASCII character
            # becomes "?", then everything but [0-9a-z] and _SEP a space.
            ascii_only = folded.encode("ascii", "replace").translate(_WORD_BYTES).decode("ascii")
            words = ascii_only.replace(_SEP, f" {_SEP} ").split()
            if words.count(_SEP) != len(texts) - 1:  # cannot happen (nothing normalises to _SEP); never guess
                words = [word for text in clean for word in (*normalise_name(text).split(), _SEP)][:-1]
            vocabulary = sorted(set(words) - {_SEP})
            known = set(_select(vocabulary, self._words, self._key))
            grams = self._name_grams(texts, words, known)
            for gram in _select(list(grams), self._names, self._key):
                for text in grams[gram]:
                    results[text].append(("supporter full name", _mask_name(gram)))
        return results


# --- walking files ----------------------------------------------------------------------


def _json_strings(value: Any, path: str = "") -> list[tuple[str, str]]:
    """``(JSON path, string)`` for every string in ``value``, depth first, in document order."""
    found: list[tuple[str, str]] = []

    def walk(item: Any, where: str) -> None:
        if isinstance(item, str):
            found.append((where or "(value)", item))
        elif isinstance(item, dict):
            for key, child in item.items():
                walk(child, f"{where}.{key}" if where else str(key))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                walk(child, f"{where}[{index}]")

    walk(value, path)
    return found


def _text_items(path: str, data: bytes) -> list[tuple[str, str]]:
    """``(field, text)`` pairs of a text file: JSON paths for JSON, line numbers otherwise."""
    text = data.decode("utf-8", errors="replace")
    if path.endswith(".json"):
        try:
            return _json_strings(json.loads(text))
        except json.JSONDecodeError:
            pass
    return [(f"line {number}", line) for number, line in enumerate(text.splitlines(), start=1)]


def safe_member_name(name: str) -> bool:
    """A zip member or bundle path that cannot escape its folder (zip-slip)."""
    if not name or name.startswith("/") or "\\" in name or ":" in name:
        return False
    parts = name.split("/")
    return all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", part) and part not in {".", ".."} for part in parts)


def _texts(files: Mapping[str, bytes], report: CheckReport, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, str, bytes]]:
    """``(file, kind-of-text, bytes)`` for every text file, zip members included (files in
    ``skip`` left out)."""
    # Source data first (posts.json, cards.json), then readable copies, pages, packs: a
    # finding is reported where it is easiest to fix.
    order = {".json": 0, ".md": 1, ".txt": 1, ".csv": 1, ".html": 2}
    for path, data in sorted(files.items(), key=lambda item: (order.get(PurePosixPath(item[0]).suffix, 3), item[0])):
        if path in skip:
            continue
        if path.endswith(_TEXT_SUFFIXES):
            yield path, path, data
        elif path.endswith(".zip"):
            try:
                archive = zipfile.ZipFile(io.BytesIO(data))
            except zipfile.BadZipFile:
                report.add(Finding("manifest", path, "(archive)", "not a zip", "the pack is corrupt; rebuild the bundle"))
                continue
            for info in archive.infolist():
                if not safe_member_name(info.filename):
                    report.add(Finding("manifest", path, info.filename, info.filename[:80], "unsafe member name (zip-slip); rebuild the pack"))
                    continue
                if info.filename.endswith(_TEXT_SUFFIXES):
                    yield f"{path}!{info.filename}", info.filename, archive.read(info)


class _Parsed:
    """The ``(field, text)`` pairs of each distinct text, parsed once for every check.

    A pack repeats its segment's posts.json, cards.json and posts.md byte for byte: the
    copy's strings are the same objects as the source's, and each check answers a copy
    from what it found in the source (same bytes read the same way: same findings).
    """

    def __init__(self) -> None:
        self._items: dict[tuple[bool, bytes], list[tuple[str, str]]] = {}

    def __call__(self, label: str, data: bytes) -> list[tuple[str, str]]:
        key = (label.endswith(".json"), data)
        items = self._items.get(key)
        if items is None:
            items = self._items[key] = _text_items(label, data)
        return items


# --- the checks -------------------------------------------------------------------------


def _pii_finding(label: str, where: str, kind: str, masked: str) -> Finding:
    return Finding(
        "pii",
        label,
        where,
        masked,
        f"looks like a {kind}: personal data must never be published; remove it from the "
        "brief or template, or add it to privacy.pii_allowlist in campaign.yaml if it is the campaign's own",
    )


def _check_pii(texts: list[tuple[str, str, bytes]], parsed: _Parsed, scanner: PiiScanner, report: CheckReport) -> None:
    report.counts.setdefault("pii", {"findings": 0})
    for name, stat in scanner.stats.items():
        report.counts["pii"][f"reference_{name}"] = stat
    # Every distinct string of the bundle in one batch: each candidate is hashed once.
    scanner.remember(text for label, _, data in texts for _, text in parsed(label, data))
    seen: dict[tuple[bool, bytes], list[tuple[str, str, str]]] = {}
    for label, _, data in texts:
        items = parsed(label, data)
        report.count("pii", "files_scanned")
        report.count("pii", "strings_scanned", len(items))
        key = (label.endswith(".json"), data)
        found = seen.get(key)
        if found is None:  # a copy (same bytes, read the same way) has the same findings
            found = seen[key] = list(scanner.scan(items))
        for where, kind, masked in found:
            report.add(_pii_finding(label, where, kind, masked))


class _LinkParser(HTMLParser):
    """Collects the URL-valued attributes of an HTML page with their line numbers."""

    ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "poster", "data", "srcset", "cite", "data-image"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[int, str, str, str]] = []  # line, tag, attribute, value

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        for name, value in attrs:
            if name in self.ATTRIBUTES and value is not None:
                self.links.append((line, tag, name, value.strip()))


def _host_allowed(host: str, domains: Iterable[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _shown(url: str) -> str:
    """A URL without its query (presigned signatures, tracking) for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:120] if parts.scheme else url[:120]


def _absolute_link_problem(
    url: str, *, page: bool, domains: tuple[str, ...], own: Callable[[str], bool], origins: dict[str, str | None] | None = None
) -> str | None:
    """What is wrong with an absolute link, or None. ``origins`` remembers the verdict on each
    ``scheme://host`` part (all that matters once the link is neither our own nor a share)."""
    if own(url):
        return None
    if page and url.startswith(SHARE_ENDPOINTS):
        return None
    # The scheme and host of ``url`` are those of its beginning up to the path, query or
    # fragment (what urlsplit takes as scheme and netloc): judge that part once.
    start = url.find("://")
    end = min((i for i in (url.find(c, start + 3) for c in "/?#") if i >= 0), default=len(url)) if start >= 0 else len(url)
    origin = url[:end]
    if origins is not None and origin in origins:
        return origins[origin]
    parts = urlsplit(origin)
    if parts.scheme != "https":
        problem: str | None = "link is not https: use an https address"
    else:
        host = (parts.hostname or "").lower()
        problem = None if _host_allowed(host, domains) else f"domain {host!r} is not in links.allowed_domains of campaign.yaml: fix the link or allow the domain"
    if origins is not None:
        origins[origin] = problem
    return problem


def _relative_link_problem(base: str, value: str, files: Mapping[str, bytes]) -> str | None:
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
    return [match.group(0).rstrip(".,;:!?)]'") for piece in string.split() if "://" in piece for match in _URL.finditer(piece)]


def _check_links(
    texts: list[tuple[str, str, bytes]],
    parsed: _Parsed,
    files: Mapping[str, bytes],
    kinds: Mapping[str, str],
    report: CheckReport,
    *,
    domains: tuple[str, ...],
    own: Callable[[str], bool],
) -> None:
    report.counts.setdefault("links", {"findings": 0})
    urls_in: dict[str, list[str]] = {}  # distinct string -> its absolute links
    problems: dict[tuple[str, bool], str | None] = {}  # (link, on a page) -> problem
    origins: dict[str, str | None] = {}  # scheme://host -> problem
    seen: dict[tuple[bool, bool, bytes], tuple[int, list[tuple[str, str, str]]]] = {}
    for label, member, data in texts:
        page = kinds.get(label) in {"page", "overview"}
        html = member.endswith(".html")
        key = (label.endswith(".json"), page, data)
        if not html and key in seen:  # a copy: same bytes, read the same way, same answers
            count, found = seen[key]
        else:
            count, found = 0, []
            for where, string in parsed(label, data):
                urls = urls_in.get(string)
                if urls is None:
                    urls = urls_in[string] = _absolute_urls(string)
                for url in urls:
                    count += 1
                    problem = problems.get((url, page), "")
                    if problem == "":
                        problem = problems[(url, page)] = _absolute_link_problem(url, page=page, domains=domains, own=own, origins=origins)
                    if problem:
                        found.append((where, _shown(url), problem))
            if not html:
                seen[key] = (count, found)
        if count:
            report.count("links", "absolute_links", count)
        for where, shown, problem in found:
            report.add(Finding("links", label, where, shown, problem))
        if html:
            _check_html_links(label, member, data, files, report)


def _check_html_links(label: str, member: str, data: bytes, files: Mapping[str, bytes], report: CheckReport) -> None:
    parser = _LinkParser()
    parser.feed(data.decode("utf-8", errors="replace"))
    for line, tag, attribute, value in parser.links:
        where = f"line {line} <{tag} {attribute}>"
        scheme = urlsplit(value).scheme.lower()
        if scheme == "data":
            # "data:," is the empty favicon that stops browsers asking the server for one.
            if value != "data:," and (tag != "img" or not value.startswith("data:image/")):
                report.add(Finding("links", label, where, value[:40], "data: URI outside an image; inline only images"))
            continue
        if scheme in {"http", "https"}:
            continue  # already checked above with the text
        report.count("links", "relative_links")
        if scheme or value.startswith("//"):
            report.add(Finding("links", label, where, value[:80], f"{scheme or 'protocol-relative'} link: only https and bundle links are allowed"))
            continue
        problem = _relative_link_problem(member if "!" in label else label, value, files)
        if problem and "!" not in label:
            report.add(Finding("links", label, where, value[:80], problem))


def _check_sizes(files: Mapping[str, bytes], kinds: Mapping[str, str], limits: Mapping[str, int], report: CheckReport) -> None:
    report.counts.setdefault("sizes", {"findings": 0})
    for path, data in sorted(files.items()):
        kind = kinds.get(path, "other")
        limit = limits.get(kind, limits["other"])
        report.count("sizes", "files")
        report.count("sizes", "bytes", len(data))
        if len(data) > limit:
            report.add(
                Finding("sizes", path, "bytes", f"{len(data):,} > {limit:,}", f"{kind} is over its size limit: make it lighter or raise limits.{kind} in campaign.yaml")
            )


@cache
def _validator(schema_name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema(schema_name))


_Problems = tuple[tuple[tuple[str | int, ...], str], ...]  # (path, message) pairs
_OBJECT_KEYWORDS = frozenset({"type", "additionalProperties", "required", "properties", "description", "title"})
_SCALARS = (str, int, bool, type(None))  # not float: -0.0 == 0.0 but the messages differ


class _ItemValidator:
    """Validates the items of one top-level array, remembering what it found.

    An item schema made only of ``type: object``, ``additionalProperties: false``,
    ``required`` and ``properties`` judges an item's set of keys (extra or missing ones)
    apart from each property's value (its own subschema), so both are remembered: the keys
    by their names in order, each value by property, type and value (strings, integers,
    booleans, null). A manifest's entries
    share most values (kinds, content types, segments) and each distinct path or checksum is
    validated once per process. Same problems, same messages as validating the whole item.
    """

    def __init__(self, root: Mapping[str, Any], items: Mapping[str, Any]) -> None:
        import jsonschema

        def validator(schema: Mapping[str, Any]) -> Any:
            return jsonschema.Draft202012Validator({"$schema": root["$schema"], "$defs": root.get("$defs", {}), **schema})

        self._whole = validator(items)
        properties = items.get("properties")
        self._split = (
            set(items) <= _OBJECT_KEYWORDS
            and items.get("type") == "object"
            and items.get("additionalProperties", True) in (True, False)
            and isinstance(properties, dict)
            and all(isinstance(sub, dict) for sub in properties.values())
        )
        if self._split:
            self._keys = validator({**items, "properties": dict.fromkeys(properties, True)})
            self._values = {name: validator(sub) for name, sub in properties.items()}
        self._known_keys: dict[tuple[str, ...], _Problems] = {}
        self._known_values: dict[tuple[str, type, Any], _Problems] = {}

    @staticmethod
    def _problems(validator: Any, instance: Any, prefix: tuple[str | int, ...] = ()) -> _Problems:
        return tuple(((*prefix, *error.absolute_path), error.message) for error in validator.iter_errors(instance))

    def __call__(self, item: Any) -> _Problems:
        if not (self._split and isinstance(item, dict) and all(isinstance(key, str) for key in item)):
            return self._problems(self._whole, item)
        if len(self._known_values) > 500_000:
            self._known_values.clear()
        names = tuple(item)
        found = self._known_keys.get(names)
        if found is None:
            found = self._known_keys[names] = self._problems(self._keys, dict.fromkeys(names))
        problems = list(found)
        for name, value in item.items():
            validator = self._values.get(name)
            if validator is None:
                continue  # an extra key: reported with the keys
            if not isinstance(value, _SCALARS):
                problems.extend(self._problems(validator, value, (name,)))
                continue
            key = (name, type(value), value)
            known = self._known_values.get(key)
            if known is None:
                known = self._known_values[key] = self._problems(validator, value, (name,))
            problems.extend(known)
        return tuple(problems)


@cache
def _item_validator(schema_name: str, array: str) -> _ItemValidator | None:
    """A validator for the items of the top-level array ``array``, or None when the array's
    schema says more than ``type`` and ``items`` (then only a whole validation is exact)."""
    schema = load_schema(schema_name)
    array_schema = schema.get("properties", {}).get(array, {})
    if set(array_schema) - {"type", "description", "items"} or array_schema.get("type") != "array" or not isinstance(array_schema.get("items"), dict):
        return None
    return _ItemValidator(schema, array_schema["items"])


def schema_problems(document: Any, schema_name: str) -> list[tuple[str, str]]:
    """``(where, message)`` for every way ``document`` breaks ``<schema_name>.schema.json``,
    sorted by where (``files/12/sha256``, ``(root)``).

    Validators are built once. The schema checks a manifest's ``files`` array only through
    ``items``, so the document's problems are those of the document without its files plus
    those of each entry, prefixed with ``files/<index>``; entries are validated by
    ``_ItemValidator``, which remembers what it judged (same answers, far fewer calls).
    """
    items = _item_validator(schema_name, "files") if isinstance(document, dict) and isinstance(document.get("files"), list) else None
    if items is None:
        found = [(tuple(error.absolute_path), error.message) for error in _validator(schema_name).iter_errors(document)]
    else:
        found = [(tuple(error.absolute_path), error.message) for error in _validator(schema_name).iter_errors({**document, "files": []})]
        for index, entry in enumerate(document["files"]):
            found.extend((("files", index, *path), message) for path, message in items(entry))
    found.sort(key=lambda problem: list(map(str, problem[0])))
    return [("/".join(str(part) for part in path) or "(root)", message) for path, message in found]


def _schema_errors(document: Any, schema_name: str) -> list[str]:
    return [f"{where}: {message[:160]}" for where, message in schema_problems(document, schema_name)]


def _check_manifest(files: Mapping[str, bytes], manifest: Mapping[str, Any], report: CheckReport, sha256: Callable[[bytes], str]) -> dict[str, str]:
    """The manifest check; returns the sha256 of every listed file that is present."""
    report.counts.setdefault("manifest", {"findings": 0})
    for problem in _schema_errors(manifest, "manifest"):
        report.add(Finding("manifest", "manifest.json", problem.split(":", 1)[0], "schema", f"does not match manifest.schema.json: {problem}"))
    listed = {entry.get("path"): entry for entry in manifest.get("files", []) if isinstance(entry, dict)}
    digests: dict[str, str] = {}
    for path, entry in sorted(listed.items()):
        report.count("manifest", "files_listed")
        if not isinstance(path, str) or not safe_member_name(path):
            report.add(Finding("manifest", "manifest.json", "files[].path", str(path)[:80], "unsafe path; rebuild the bundle"))
            continue
        data = files.get(path)
        if data is None:
            report.add(Finding("manifest", path, "path", "missing", "listed in the manifest but absent: rebuild the bundle"))
            continue
        digest = digests[path] = sha256(data)
        if len(data) != entry.get("bytes") or digest != entry.get("sha256"):
            report.add(
                Finding("manifest", path, "sha256", f"{digest[:12]}… ({len(data)} bytes)", f"does not match the manifest ({str(entry.get('sha256'))[:12]}…, {entry.get('bytes')} bytes): the file changed after the bundle was built; rebuild it")
            )
    for path in sorted(set(files) - set(listed)):
        report.add(Finding("manifest", path, "path", "unlisted", "file not in the manifest: rebuild the bundle"))
    if "compliance.json" in files:
        try:
            compliance = json.loads(files["compliance.json"])
        except json.JSONDecodeError:
            compliance = None
        for problem in _schema_errors(compliance, "compliance"):
            report.add(Finding("manifest", "compliance.json", problem.split(":", 1)[0], "schema", f"does not match compliance.schema.json: {problem}"))
    return digests


def check_manifest(files: Mapping[str, bytes], manifest: Mapping[str, Any], *, sha256: Sha256s | None = None) -> CheckReport:
    """Only the manifest check: sizes, checksums, file list and schemas."""
    report = CheckReport()
    _check_manifest(files, manifest, report, sha256 or Sha256s())
    return report


#: Bumped whenever what the PII or link checks find changes: a fingerprint taken by another
#: version of the checks is never trusted.
CHECKS_VERSION = 2


def checks_fingerprint(
    files: Mapping[str, str],
    *,
    scanner: PiiScanner,
    allowed_domains: Iterable[str],
    limits: Mapping[str, int] | None = None,
) -> str:
    """SHA-256 (hex) naming what a pass of the checks covered: every file (path → sha256) and
    the settings the checks judged them by (allowed domains, limits, the PII allowlist and
    the size of the PII reference, the checks' version).

    The checks stage records it in compliance.json; publishing trusts that pass only for the
    files whose bytes still have those digests, and only if the fingerprint it computes from
    the verified manifest and its own settings is the same. Holds no personal data: the
    allowlist is the campaign's own, the reference is counted, never listed.
    """
    import hashlib

    settings = {
        "version": CHECKS_VERSION,
        "domains": sorted(d.lower() for d in allowed_domains),
        "limits": dict(sorted((limits or DEFAULT_LIMITS).items())),
        "allowlist": [sorted(scanner.allowed_emails), sorted(scanner.allowed_phones), sorted(scanner.allowed_names)],
        "reference": dict(sorted(scanner.stats.items())),
        "name_words": scanner.name_words,
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for path, sha256 in sorted(files.items()):
        digest.update(f"\n{path}\t{sha256}".encode())
    return digest.hexdigest()


def check_bundle(
    files: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    *,
    scanner: PiiScanner,
    allowed_domains: Iterable[str],
    limits: Mapping[str, int] | None = None,
    own_link: Callable[[str], bool] = lambda url: False,
    passed: Mapping[str, str] | None = None,
    sha256: Sha256s | None = None,
) -> CheckReport:
    """Run every check over the bundle's files (paths relative to the run, manifest excluded).

    ``own_link`` says whether an absolute URL is one of the bundle's own presigned links.
    ``passed`` maps paths to the sha256 of bytes that already passed the PII and link checks
    with the same settings (see ``checks_fingerprint``): a file whose bytes still have that
    sha256 (computed here, by the manifest check) is not scanned again; the manifest and
    size checks always cover every file. ``sha256`` hashes each file once for this check and
    what the caller does next with the same objects (rebuilding the manifest).
    Returns the report; call ``raise_for_findings()`` to block publishing on any finding.
    """
    report = CheckReport()
    kinds = {entry["path"]: entry.get("kind", "other") for entry in manifest.get("files", []) if isinstance(entry, dict) and "path" in entry}
    domains = tuple(d.lower() for d in allowed_domains)
    digests = _check_manifest(files, manifest, report, sha256 or Sha256s())
    _check_sizes(files, kinds, limits or DEFAULT_LIMITS, report)
    unchanged = frozenset(path for path, digest in (passed or {}).items() if path in files and digests.get(path) == digest)
    texts = list(_texts(files, report, skip=unchanged))
    parsed = _Parsed()
    _check_links(texts, parsed, files, kinds, report, domains=domains, own=own_link)
    _check_pii(texts, parsed, scanner, report)
    if passed is not None:
        for check in ("links", "pii"):
            report.count(check, "files_unchanged_since_checks", len(unchanged))
    return report
