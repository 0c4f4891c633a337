"""The PII reference as a file: a scanner's keyed hashes, built once a night and reused.

The privacy stage builds the scanner's reference (keyed 64-bit hashes of the normalised
supporter ids, full names and name words) from the frames it already holds and writes it
to the run's private files; the checks and publish stages load it instead of reading and
hashing a million supporters again. The file never holds a plain value: only the hashes,
their counts and the night's random SipHash key (``secrets``, as before), which lives in
this private file only, beside the supporter files the reference was made from and under
the same retention. The allowlist is not stored: it is the campaign's own and is applied
when the file is loaded, from the settings of the stage loading it.

Layout (version 1): ``MAGIC``, a 4-byte little-endian header length, the JSON header
(version, key, name words, stats, array lengths, SHA-256 of the arrays), then the three
sorted ``uint64`` arrays (ids, full names, name words), little-endian. A file that does
not read back whole (truncated, another version, wrong digest) raises
``PiiReferenceError``; the caller then rebuilds the reference from the private files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from matinale.checks.pii import PiiScanner
from matinale.errors import MatinaleError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PII_REFERENCE_VERSION", "PiiReferenceError", "dump_reference", "load_reference"]

#: Bumped whenever the layout or what the hashes cover changes: another version is rebuilt.
PII_REFERENCE_VERSION = 1
MAGIC = b"MATINALE-PII-REFERENCE\n"
_ARRAYS = ("ids", "names", "words")
_DTYPE = "<u8"


class PiiReferenceError(MatinaleError, ValueError):
    """The PII reference file cannot be used (truncated, corrupt or of another version)."""


def dump_reference(scanner: PiiScanner) -> bytes:
    """The scanner's reference as bytes: keyed hashes, key and counts; no plain value."""
    import numpy as np

    arrays = {
        name: np.ascontiguousarray(values, dtype=_DTYPE)
        for name, values in zip(
            _ARRAYS, (scanner._ids, scanner._names, scanner._words), strict=True
        )
    }
    payload = b"".join(array.tobytes() for array in arrays.values())
    header = {
        "version": PII_REFERENCE_VERSION,
        "key": scanner._key,
        "name_words": scanner.name_words,
        "stats": dict(sorted(scanner.stats.items())),
        "lengths": {name: len(array) for name, array in arrays.items()},
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    encoded = json.dumps(header, sort_keys=True).encode("utf-8")
    return b"".join((MAGIC, len(encoded).to_bytes(4, "little"), encoded, payload))


def _header(data: bytes) -> tuple[dict[str, Any], int]:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise PiiReferenceError("not a PII reference file")
    start = len(MAGIC) + 4
    size = int.from_bytes(data[len(MAGIC) : start], "little")
    try:
        header = json.loads(data[start : start + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PiiReferenceError(f"unreadable PII reference header: {exc}") from exc
    if not isinstance(header, dict) or header.get("version") != PII_REFERENCE_VERSION:
        version = header.get("version") if isinstance(header, dict) else None
        raise PiiReferenceError(
            f"PII reference version {version!r}, this code reads {PII_REFERENCE_VERSION}"
        )
    return header, start + size


def load_reference(data: bytes, allowlist: Iterable[str] = ()) -> PiiScanner:
    """The scanner a reference file holds, with the given allowlist (the stage's settings)."""
    import numpy as np

    header, offset = _header(data)
    try:
        lengths = {name: int(header["lengths"][name]) for name in _ARRAYS}
        key = str(header["key"])
        name_words = int(header["name_words"])
        stats = {str(k): int(v) for k, v in header["stats"].items()}
        digest = str(header["sha256"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PiiReferenceError(f"incomplete PII reference header: {exc}") from exc
    payload = memoryview(data)[offset:]
    if len(payload) != 8 * sum(lengths.values()):
        raise PiiReferenceError("truncated PII reference: the arrays are not whole")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise PiiReferenceError("corrupt PII reference: the arrays do not match their digest")
    arrays: dict[str, np.ndarray] = {}
    start = 0
    for name in _ARRAYS:
        end = start + 8 * lengths[name]
        arrays[name] = np.frombuffer(payload[start:end], dtype=_DTYPE).astype(np.uint64)
        start = end
    return PiiScanner(
        id_hashes=arrays["ids"],
        name_hashes=arrays["names"],
        word_hashes=arrays["words"],
        key=key,
        name_words=name_words,
        allowlist=allowlist,
        stats=stats,
    )
