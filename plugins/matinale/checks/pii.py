"""The PII check: personal data in the bundle's text, found without a copy of it.

The scanner is built from the private supporter data but keeps only keyed 64-bit hashes
of the normalised ids, full names and name words (the key is random per night, drawn when
the reference is built, and stored only with the hashes in the run's private reference
file: see ``matinale.checks.reference``). E-mail addresses and French phone numbers are found by pattern; ids and full
names (n-grams of name words) by hashing candidates and looking them up.
"""

from __future__ import annotations

import bisect
import itertools
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from matinale.checks.pii_text import (
    _BREAK,
    _BREAKS_SCAN,
    _DATA_URI,
    _ID_TOKENS,
    _PHONE,
    _SEP,
    _WORD_BYTES,
    _emails,
    _id_candidates,
    _positions,
)
from matinale.checks.report import CheckReport, Finding
from matinale.checks.texts import ParsedTexts
from matinale.privacy import mask_email, mask_value

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from matinale.store import Store

__all__ = ["PiiScanner", "normalise_name", "normalise_phone"]

_MIN_ID_LENGTH = 6
_MAX_NAME_WORDS = 6
_COMBINING = re.compile(r"[\u0300-\u036f]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")

# Texts are examined in batches of about this many characters: enough for each distinct
# candidate to be hashed once in most nights, few enough that the batch's copies (folded,
# split into words) stay small next to the bundle.
_BATCH_CHARS = 4_000_000


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
    """The distinct hashes, sorted: what ``np.unique`` gives, by a sort and a comparison of
    neighbours (NumPy 2.4's hash-based ``np.unique`` takes 1.4 s on 2 M hashes, this 0.03 s)."""
    import numpy as np

    if not parts:
        return np.empty(0, np.uint64)
    ordered = np.sort(np.concatenate(parts))
    first = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _select(values: list[str], sorted_hashes: np.ndarray, key: str) -> list[str]:
    """The values whose keyed hash is in ``sorted_hashes`` (one vectorised hash and search)."""
    import numpy as np

    if not values or len(sorted_hashes) == 0:
        return []
    hit = _contains(sorted_hashes, _hash(values, key))
    return [values[index] for index in np.flatnonzero(hit)]


def _batches(texts: list[str]) -> Iterator[list[str]]:
    """``texts`` in consecutive batches of about _BATCH_CHARS characters (at least one text)."""
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and size + len(text) > _BATCH_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += len(text) + 1
    if batch:
        yield batch


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
        # Every word of a first or last name (full names are made of them).
        self._words = word_hashes
        self._key = key
        self._name_words = max(2, min(name_words, _MAX_NAME_WORDS))
        self.allowed_emails: frozenset[str] = frozenset()
        self.allowed_phones: frozenset[str] = frozenset()
        self.allowed_names: frozenset[str] = frozenset()
        self._allow(allowlist)
        # Every text examined → what it holds (an empty tuple for most).
        self._memo: dict[str, Sequence[tuple[str, str]]] = {}
        self._holding: set[str] = set()  # the examined texts that hold personal data
        self.stats = dict(stats or {})

    @property
    def name_words(self) -> int:
        """The most words a full name of the reference has (how long a name n-gram gets)."""
        return self._name_words

    def __repr__(self) -> str:
        return f"PiiScanner({len(self._ids)} ids, {len(self._names)} names, hashed)"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            "a PiiScanner stays in the process that built it; rebuild it from the private store"
        )

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
    def from_frames(
        cls, frames: Iterable[pd.DataFrame], allowlist: Iterable[str] = ()
    ) -> PiiScanner:
        """Build from supporter frames (any of ``supporter_id``, ``first_name``, ``last_name``)."""
        import pandas as pd

        key = secrets.token_hex(
            8
        )  # 16 characters: SipHash's key (kept only in the private reference file)
        ids: list[np.ndarray] = []
        names: list[np.ndarray] = []
        name_words: list[np.ndarray] = []
        words = 2
        people = 0
        for frame in frames:
            people += len(frame)
            if "supporter_id" in frame:
                raw = (
                    frame["supporter_id"]
                    .astype(object)
                    .fillna("")
                    .astype(str)
                    .str.strip()
                    .str.casefold()
                )
                long_enough = raw[raw.str.len() >= _MIN_ID_LENGTH].unique()
                ids.append(_hash(long_enough, key))
            if "first_name" in frame and "last_name" in frame:
                first = _normalised_column(frame, "first_name")
                last = _normalised_column(frame, "last_name")
                both = (first != "") & (last != "")
                first, last = first[both], last[both]
                full = pd.concat(
                    [first + " " + last, last + " " + first], ignore_index=True
                ).unique()
                if len(full):
                    words = max(words, int(pd.Series(full).str.count(" ").max()) + 1)
                names.append(_hash(full, key))
                parts = {
                    word for part in pd.concat([first, last]).unique() for word in part.split()
                }
                name_words.append(_hash(sorted(parts), key))
        id_hashes = _unique(ids)
        name_hashes = _unique(names)
        word_hashes = _unique(name_words)
        stats = {"people": people, "supporter_ids": len(id_hashes), "full_names": len(name_hashes)}
        return cls(
            id_hashes=id_hashes,
            name_hashes=name_hashes,
            word_hashes=word_hashes,
            key=key,
            name_words=words,
            allowlist=allowlist,
            stats=stats,
        )

    @classmethod
    def from_store(
        cls, store: Store, keys: Iterable[str], allowlist: Iterable[str] = ()
    ) -> PiiScanner:
        """Build from the private Parquet files of a run (those that exist)."""
        frames = []
        for key in keys:
            if store.exists(key):
                frame = store.get_frame(key)
                frames.append(
                    frame[[c for c in ("supporter_id", "first_name", "last_name") if c in frame]]
                )
        return cls.from_frames(frames, allowlist)

    def scan(self, items: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str, str]]:
        """``(field, text)`` pairs → ``(field, kind, masked value)`` for every personal datum.

        Results are remembered per distinct text: a bundle repeats the same lines in posts,
        pages and packs and across segments, so each is examined once.
        """
        items = list(items)
        self.remember(text for _, text in items)
        for index, kind, masked in self.remembered([text for _, text in items]):
            yield items[index][0], kind, masked

    def remember(self, texts: Iterable[str]) -> None:
        """Examine every text not seen yet, in batches (then ``scan`` answers from memory).

        A text of several lines is examined line by line: lines repeat far more than texts
        (a night's posts.json: 16 M characters of distinct texts, 4.8 M of distinct lines).
        No address, id or name spans a line (names stop at a line's end; the other patterns
        hold no line break) and every boundary treats a line's ends as a text's. Only a phone
        number can span lines (a break between its pairs): those texts get one more phone pass,
        whole. A text with a line holding anything (rare) is examined whole again, so its
        findings and their order are exactly the whole text's.
        """
        fresh = [text for text in dict.fromkeys(texts) if text not in self._memo]
        several = [text for text in fresh if "\n" in text]
        lines = dict.fromkeys(
            line for text in fresh for line in (text.split("\n") if "\n" in text else (text,))
        )
        holding, memo = self._holding, self._memo
        for batch in _batches([line for line in lines if line not in memo]):
            examined = self._examine(batch)
            memo.update(dict.fromkeys(batch, ()))
            memo.update(examined)
            holding.update(examined)
        phones: dict[str, list[tuple[str, str]]] = {}
        for batch in _batches(several):
            phones.update(self._examine(batch, only_phones=True))
        again = [t for t in several if holding and not holding.isdisjoint(t.split("\n"))]
        for batch in _batches(again):
            phones.update(self._examine(batch))  # whole again: every kind, in its order
        memo.update(dict.fromkeys(several, ()))
        memo.update(phones)
        holding.update(phones)

    def remembered(self, texts: Iterable[str]) -> list[tuple[int, str, str]]:
        """``(index, kind, masked value)`` for every personal datum in ``texts``, all
        examined already (``remember``): only the texts found holding personal data are
        looked up, nothing is examined again. A text never examined raises ``KeyError``."""
        holding, memo = self._holding, self._memo
        texts = texts if isinstance(texts, list) else list(texts)
        if not all(map(memo.__contains__, texts)):  # in C: a clean bundle's files cost little
            raise KeyError("a text was never examined: call remember() first")
        if holding.isdisjoint(texts):
            return []
        return [
            (index, kind, masked)
            for index, text in enumerate(texts)
            if text in holding
            for kind, masked in memo[text]
        ]

    def _name_grams(
        self, texts: list[str], words: list[str], separators: list[int], known: set[str]
    ) -> dict[str, dict[str, None]]:
        """Each text holding a run of known name words → every 2..k-gram inside its runs,
        in the text's own order (so a text's findings never depend on its batch).

        ``words`` are the words of all ``texts`` in order, with ``_SEP`` between two texts
        (never a known word, so no run spans two texts) at ``separators``.
        """
        import numpy as np

        grams: dict[str, dict[str, None]] = {}
        if len(known) == 0 or not words:
            return grams
        flags = np.fromiter(map(known.__contains__, words), dtype=bool, count=len(words))
        pairs = np.flatnonzero(flags[:-1] & flags[1:])
        if len(pairs) == 0:
            return grams
        position = np.flatnonzero(flags)
        breaks = np.flatnonzero(np.diff(position) != 1) + 1
        run_starts = np.concatenate(([0], breaks))
        run_ends = np.concatenate((breaks, [len(position)]))
        several = run_ends - run_starts >= 2
        longest = self._name_words
        for first, last in zip(
            position[run_starts[several]].tolist(),
            position[run_ends[several] - 1].tolist(),
            strict=True,
        ):
            run = words[first : last + 1]  # a maximal run of name words
            text = texts[bisect.bisect_left(separators, first)]
            found: dict[str, None] = {}
            for n in range(2, min(longest, len(run)) + 1):
                found.update(
                    dict.fromkeys(" ".join(run[i : i + n]) for i in range(len(run) - n + 1))
                )
            held = grams.setdefault(text, {})
            held.update((gram, None) for gram in found if gram not in self.allowed_names)
        return grams

    def _examine(
        self, texts: list[str], *, only_phones: bool = False
    ) -> dict[str, list[tuple[str, str]]]:
        """What personal data each text holds, for a batch of distinct texts (only the
        texts holding some are listed).

        The batch is joined into one string (``_SEP`` between texts, so that no match can
        span two texts) and each pattern runs once over it (e-mail, phone, one pattern for
        both kinds of id token, the name words); a match belongs to the text its offset
        falls in. Candidate ids and names are gathered over the whole batch, so each
        distinct one is hashed and looked up once, in one vectorised call per kind.

        A full name is first + last, each made of name words, so a name n-gram can only lie
        inside a run of consecutive words that are each a word of some supporter's first or
        last name. The distinct words of the batch are hashed first, and n-grams are built
        only inside such runs: this finds exactly what building every n-gram of every text
        would find (a gram with any other word cannot be a full name), for a small part of
        the work. The known words stay local to this call; the scanner keeps only hashes.
        """
        results: dict[str, list[tuple[str, str]]] = {}
        # Inlined images are not words.
        clean = [_DATA_URI.sub(" ", text) if "data:" in text else text for text in texts]
        # A separator (or break) inside a text would split it: any other character no pattern
        # uses will do.
        clean = [
            text.replace(_SEP, "\x01").replace(_BREAK, "\x01")
            if _SEP in text or _BREAK in text
            else text
            for text in clean
        ]
        joined = _SEP.join(clean)
        starts = list(itertools.accumulate((len(text) + 1 for text in clean[:-1]), initial=0))

        def owner(offset: int) -> list[tuple[str, str]]:
            return results.setdefault(texts[bisect.bisect_right(starts, offset) - 1], [])

        # No e-mail address holds _SEP, and _SEP stands where a text starts or ends for both
        # of _EMAIL's boundaries: one pass over the batch finds each text's addresses.
        if "@" in joined and not only_phones:
            for match in _emails(joined):
                value = match.group(0)
                if value.casefold() not in self.allowed_emails:
                    owner(match.start()).append(("e-mail address", mask_email(value)))
        for match in _PHONE.finditer(joined):
            value = match.group(0)
            if normalise_phone(value) not in self.allowed_phones:
                owner(match.start()).append(("phone number", mask_value(re.sub(r"\D", "", value))))
        if only_phones:  # ``remember``: the texts of several lines
            return results

        if len(self._ids):
            raw = _id_candidates(joined)
            tokens = sorted({token.strip("._-").casefold() for token in raw} - {""})
            hits = _select([t for t in tokens if len(t) >= _MIN_ID_LENGTH], self._ids, self._key)
            if hits:  # rare: find which texts hold them (ids are ASCII: casefold keeps them whole)
                for text, cleaned in zip(texts, clean, strict=True):
                    folded = cleaned.casefold()
                    present = [hit for hit in hits if hit in folded]
                    if present:
                        seen = {
                            m.group(0).strip("._-").casefold()
                            for pattern in _ID_TOKENS
                            for m in pattern.finditer(cleaned)
                        }
                        ids = [("supporter id", mask_value(hit)) for hit in present if hit in seen]
                        if ids:
                            results.setdefault(text, []).extend(ids)

        if len(self._names):
            # normalise_name over the whole batch: the words, with _SEP between texts.
            broken = _BREAKS_SCAN.sub(f" {_BREAK} ", joined)
            folded = _COMBINING.sub("", unicodedata.normalize("NFKD", broken)).casefold()
            # What _NOT_ALNUM does, keeping _SEP and _BREAK as words of their own: any
            # non-ASCII character becomes "?", then everything but [0-9a-z], _SEP and _BREAK
            # a space.
            ascii_only = folded.encode("ascii", "replace").translate(_WORD_BYTES).decode("ascii")
            words = ascii_only.replace(_SEP, f" {_SEP} ").split()
            # Cannot happen (nothing normalises to _SEP); never guess.
            separators = _positions(words, _SEP)
            if len(separators) != len(texts) - 1:
                words = [w for text in clean for w in (*normalise_name(text).split(), _SEP)][:-1]
                separators = _positions(words, _SEP)
            vocabulary = sorted(set(words) - {_SEP, _BREAK})
            known = set(_select(vocabulary, self._words, self._key))
            grams = self._name_grams(texts, words, separators, known)
            distinct = list(dict.fromkeys(gram for held in grams.values() for gram in held))
            named = set(_select(distinct, self._names, self._key))
            if named:
                for text, held in grams.items():
                    names = [
                        ("supporter full name", _mask_name(gram)) for gram in held if gram in named
                    ]
                    if names:
                        results.setdefault(text, []).extend(names)
        return results


def _pii_finding(label: str, where: str, kind: str, masked: str) -> Finding:
    return Finding(
        "pii",
        label,
        where,
        masked,
        f"looks like a {kind}: personal data must never be published; remove it from the "
        "brief or template, or add it to privacy.pii_allowlist in campaign.yaml if it is the campaign's own",
    )


def _check_pii(
    texts: list[tuple[str, str, bytes]],
    parsed: ParsedTexts,
    scanner: PiiScanner,
    report: CheckReport,
) -> None:
    report.counts.setdefault("pii", {"findings": 0})
    for name, stat in scanner.stats.items():
        report.counts["pii"][f"reference_{name}"] = stat
    # Every distinct string of the bundle in one batch: each candidate is hashed once.
    scanner.remember(text for label, _, data in texts for text in parsed(label, data).texts)
    seen: dict[tuple[bool, bytes], list[tuple[str, str, str]]] = {}
    for label, _, data in texts:
        items = parsed(label, data)
        report.count("pii", "files_scanned")
        report.count("pii", "strings_scanned", len(items))
        key = (label.endswith(".json"), data)
        found = seen.get(key)
        if found is None:  # a copy (same bytes, read the same way) has the same findings
            found = seen[key] = [
                (items.where(index), kind, masked)
                for index, kind, masked in scanner.remembered(items.texts)
            ]
        for where, kind, masked in found:
            report.add(_pii_finding(label, where, kind, masked))
