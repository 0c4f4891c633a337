"""The checks stage's floor in the bench reads, hashes and scans the bytes the checks scan.

Protects issue 21 item 3's yardstick: the floor opens the packs and scans each distinct
text once (files and zip members), hashes every file, and says so in its label; a floor
that only hashed would flatter the ratio.
"""

from __future__ import annotations

import io
import zipfile

from matinale.dev.bench.floors import read_scan_hash


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_the_checks_floor_scans_each_distinct_text_once_packs_included() -> None:
    posts = b'{"text": "Appelez S00012345 au 06 39 98 12 34"}'
    page = b"<p>Une page</p>"
    files = {
        "a/posts.json": posts,
        "a/page.html": page,
        "a/card.jpg": b"\xff\xd8" + b"\x00" * 100,
        "a/pack.zip": _zip({"posts.json": posts, "notes.md": b"Des notes", "c.jpg": b"x"}),
    }
    result = read_scan_hash(sorted(files), files.__getitem__)
    assert result["files"] == 4
    assert result["bytes"] == sum(len(data) for data in files.values())
    # posts.json once (its copy in the pack is the same bytes), the page, the pack's notes.
    assert result["scanned_bytes"] == len(posts) + len(page) + len(b"Des notes")
    assert "SHA-256" in result["what"] and "regex" in result["what"]
    assert "2 files, 2 zip members" in result["what"]
