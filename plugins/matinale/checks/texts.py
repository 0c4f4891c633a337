"""Walking a bundle's files: the text files (zip members included) and their strings.

Every check that reads text (PII, links) gets a file's strings from here (``_Items``), and
each string's field when it reports one: a JSON path for JSON files, a line number
otherwise. Each distinct text is parsed once (``ParsedTexts``).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

from matinale.checks.report import CheckReport, Finding

__all__ = ["ParsedTexts", "safe_member_name"]

_TEXT_SUFFIXES = (".html", ".json", ".md", ".txt", ".csv")


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


def _strings(value: Any) -> list[str]:
    """Every string in ``value``, in the order of ``_json_strings`` (no paths: faster)."""
    if isinstance(value, str):
        return [value]
    found: list[str] = []
    append = found.append

    def walk(item: dict[str, Any] | list[Any]) -> None:
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, str):
                append(child)
            elif isinstance(child, dict | list):
                walk(child)

    if isinstance(value, dict | list):
        walk(value)
    return found


_LINES = object()  # an _Items of a file read line by line


class _Items:
    """The strings of a text file, in order (``texts``), and the field of each (``where``).

    A field is a JSON path (``posts[2].text``) or a line number (``line 12``). Fields are
    named only when a check reports something: a night's bundle has 700,000 strings and
    hardly ever a finding, so paths are not built for every string of every file.
    """

    __slots__ = ("_document", "_paths", "texts")

    def __init__(self, texts: list[str], document: Any = _LINES) -> None:
        self.texts = texts
        self._document = document
        self._paths: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def where(self, index: int) -> str:
        """The field of ``texts[index]``."""
        if self._document is _LINES:
            return f"line {index + 1}"
        if self._paths is None:
            self._paths = [where for where, _ in _json_strings(self._document)]
        return self._paths[index]


def _text_items(path: str, data: bytes) -> _Items:
    """The strings of a text file: a JSON file's strings, or any other file's lines."""
    text = data.decode("utf-8", errors="replace")
    if path.endswith(".json"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            return _Items(_strings(document), document)
    return _Items(text.splitlines())


def safe_member_name(name: str) -> bool:
    """A zip member or bundle path that cannot escape its folder (zip-slip)."""
    if not name or name.startswith("/") or "\\" in name or ":" in name:
        return False
    parts = name.split("/")
    return all(
        re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", part) and part not in {".", ".."}
        for part in parts
    )


def _texts(
    files: Mapping[str, bytes], report: CheckReport, skip: frozenset[str] = frozenset()
) -> Iterator[tuple[str, str, bytes]]:
    """``(file, kind-of-text, bytes)`` for every text file, zip members included (files in
    ``skip`` left out)."""
    # Source data first (posts.json, cards.json), then readable copies, pages, packs: a
    # finding is reported where it is easiest to fix.
    order = {".json": 0, ".md": 1, ".txt": 1, ".csv": 1, ".html": 2}
    for path, data in sorted(
        files.items(), key=lambda item: (order.get(PurePosixPath(item[0]).suffix, 3), item[0])
    ):
        if path in skip:
            continue
        if path.endswith(_TEXT_SUFFIXES):
            yield path, path, data
        elif path.endswith(".zip"):
            try:
                archive = zipfile.ZipFile(io.BytesIO(data))
            except zipfile.BadZipFile:
                report.add(
                    Finding(
                        "manifest",
                        path,
                        "(archive)",
                        "not a zip",
                        "the pack is corrupt; rebuild the bundle",
                    )
                )
                continue
            for info in archive.infolist():
                if not safe_member_name(info.filename):
                    report.add(
                        Finding(
                            "manifest",
                            path,
                            info.filename,
                            info.filename[:80],
                            "unsafe member name (zip-slip); rebuild the pack",
                        )
                    )
                    continue
                if info.filename.endswith(_TEXT_SUFFIXES):
                    yield f"{path}!{info.filename}", info.filename, archive.read(info)


class ParsedTexts:
    """The strings (``_Items``) of each distinct text, parsed once for every check.

    A pack repeats its segment's posts.json, cards.json and posts.md byte for byte: the
    copy's strings are the same objects as the source's, and each check answers a copy
    from what it found in the source (same bytes read the same way: same findings).
    """

    def __init__(self) -> None:
        self._items: dict[tuple[bool, bytes], _Items] = {}

    def document(self, label: str, data: bytes) -> Any:
        """The parsed JSON of a file (parsed once, shared with the text checks)."""
        document = self(label, data)._document
        return json.loads(data) if document is _LINES else document

    def __call__(self, label: str, data: bytes) -> _Items:
        key = (label.endswith(".json"), data)
        items = self._items.get(key)
        if items is None:
            items = self._items[key] = _text_items(label, data)
        return items
