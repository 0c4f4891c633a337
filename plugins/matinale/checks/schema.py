"""The manifest check: file list, sizes and checksums, and the JSON Schemas of the
manifest and compliance files (``matinale/schemas/``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from matinale.checks.report import CheckReport, Finding, Sha256s
from matinale.checks.texts import safe_member_name

__all__ = ["check_manifest", "load_schema", "schema_problems"]


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in ``matinale/schemas/`` (``manifest`` or ``compliance``)."""
    path = Path(__file__).parent.parent / "schemas" / f"{name}.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _validator(schema_name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema(schema_name))


@cache
def _valid(schema_name: str) -> Callable[[Any], bool]:
    """jsonschema-rs's verdict on the same schema, 150x faster than jsonschema's on a
    night's manifest: it only ever says that a document is valid. Any problem is worded by
    jsonschema, so messages stay those of :func:`_validator`. Formats are not validated,
    as by :func:`_validator`. Where the two could differ (regular-expression dialects),
    jsonschema-rs is the stricter: the manifest and compliance patterns are plain ASCII
    classes, and ``tests/unit/checks/test_manifest_schema.py`` pins that it never accepts
    what jsonschema rejects."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(  # type: ignore[no-any-return]
        load_schema(schema_name), validate_formats=False
    ).is_valid


def _surely_valid(document: Any, schema_name: str) -> bool:
    try:
        return _valid(schema_name)(document)
    except (ValueError, TypeError, OverflowError):  # a value JSON has no word for
        return False


_Problems = tuple[tuple[tuple[str | int, ...], str], ...]  # (path, message) pairs
_OBJECT_KEYWORDS = frozenset(
    {"type", "additionalProperties", "required", "properties", "description", "title"}
)
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
            return jsonschema.Draft202012Validator(
                {"$schema": root["$schema"], "$defs": root.get("$defs", {}), **schema}
            )

        self._whole = validator(items)
        properties = items.get("properties")
        self._split = (
            set(items) <= _OBJECT_KEYWORDS
            and items.get("type") == "object"
            and items.get("additionalProperties", True) in (True, False)
            and isinstance(properties, dict)
            and all(isinstance(sub, dict) for sub in properties.values())
        )
        if self._split and isinstance(properties, dict):  # isinstance: already in _split, for mypy
            self._keys = validator({**items, "properties": dict.fromkeys(properties, True)})
            self._values = {name: validator(sub) for name, sub in properties.items()}
        self._known_keys: dict[tuple[str, ...], _Problems] = {}
        self._known_values: dict[tuple[str, type, Any], _Problems] = {}

    @staticmethod
    def _problems(validator: Any, instance: Any, prefix: tuple[str | int, ...] = ()) -> _Problems:
        return tuple(
            ((*prefix, *error.absolute_path), error.message)
            for error in validator.iter_errors(instance)
        )

    def __call__(self, item: Any) -> _Problems:
        if not (
            self._split and isinstance(item, dict) and all(isinstance(key, str) for key in item)
        ):
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
    if (
        set(array_schema) - {"type", "description", "items"}
        or array_schema.get("type") != "array"
        or not isinstance(array_schema.get("items"), dict)
    ):
        return None
    return _ItemValidator(schema, array_schema["items"])


def schema_problems(document: Any, schema_name: str) -> list[tuple[str, str]]:
    """``(where, message)`` for every way ``document`` breaks ``<schema_name>.schema.json``,
    sorted by where (``files/12/sha256``, ``(root)``).

    Validators are built once. The schema checks a manifest's ``files`` array only through
    ``items``, so the document's problems are those of the document without its files plus
    those of each entry, prefixed with ``files/<index>``; entries are validated by
    ``_ItemValidator``, which remembers what it judged (same answers, far fewer calls).
    A document jsonschema-rs finds valid has no problem (``_valid``): a night's manifest
    takes 4 ms instead of 0.2-0.7 s.
    """
    if _surely_valid(document, schema_name):
        return []
    items = (
        _item_validator(schema_name, "files")
        if isinstance(document, dict) and isinstance(document.get("files"), list)
        else None
    )
    if items is None:
        found = [
            (tuple(error.absolute_path), error.message)
            for error in _validator(schema_name).iter_errors(document)
        ]
    else:
        found = [
            (tuple(error.absolute_path), error.message)
            for error in _validator(schema_name).iter_errors({**document, "files": []})
        ]
        for index, entry in enumerate(document["files"]):
            found.extend((("files", index, *path), message) for path, message in items(entry))
    found.sort(key=lambda problem: list(map(str, problem[0])))
    return [("/".join(str(part) for part in path) or "(root)", message) for path, message in found]


def _schema_errors(document: Any, schema_name: str) -> list[str]:
    return [
        f"{where}: {message[:160]}" for where, message in schema_problems(document, schema_name)
    ]


def _add_schema_findings(report: CheckReport, document: Any, schema_name: str, file: str) -> None:
    """A manifest finding for every way ``document`` breaks ``<schema_name>.schema.json``."""
    for problem in _schema_errors(document, schema_name):
        report.add(
            Finding(
                "manifest",
                file,
                problem.split(":", 1)[0],
                "schema",
                f"does not match {schema_name}.schema.json: {problem}",
            )
        )


def _check_manifest(
    files: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    report: CheckReport,
    sha256: Callable[[bytes], str],
) -> dict[str, str]:
    """The manifest check; returns the sha256 of every listed file that is present."""
    report.counts.setdefault("manifest", {"findings": 0})
    _add_schema_findings(report, manifest, "manifest", "manifest.json")
    listed = {
        entry.get("path"): entry for entry in manifest.get("files", []) if isinstance(entry, dict)
    }
    digests: dict[str, str] = {}
    for path, entry in sorted(listed.items()):
        report.count("manifest", "files_listed")
        if not isinstance(path, str) or not safe_member_name(path):
            report.add(
                Finding(
                    "manifest",
                    "manifest.json",
                    "files[].path",
                    str(path)[:80],
                    "unsafe path; rebuild the bundle",
                )
            )
            continue
        data = files.get(path)
        if data is None:
            report.add(
                Finding(
                    "manifest",
                    path,
                    "path",
                    "missing",
                    "listed in the manifest but absent: rebuild the bundle",
                )
            )
            continue
        digest = digests[path] = sha256(data)
        if len(data) != entry.get("bytes") or digest != entry.get("sha256"):
            report.add(
                Finding(
                    "manifest",
                    path,
                    "sha256",
                    f"{digest[:12]}… ({len(data)} bytes)",
                    f"does not match the manifest ({str(entry.get('sha256'))[:12]}…, {entry.get('bytes')} bytes): the file changed after the bundle was built; rebuild it",
                )
            )
    for path in sorted(set(files) - set(listed)):
        report.add(
            Finding(
                "manifest", path, "path", "unlisted", "file not in the manifest: rebuild the bundle"
            )
        )
    if "compliance.json" in files:
        try:
            compliance = json.loads(files["compliance.json"])
        except json.JSONDecodeError:
            compliance = None
        _add_schema_findings(report, compliance, "compliance", "compliance.json")
    return digests


def check_manifest(
    files: Mapping[str, bytes], manifest: Mapping[str, Any], *, sha256: Sha256s | None = None
) -> CheckReport:
    """Only the manifest check: sizes, checksums, file list and schemas."""
    report = CheckReport()
    _check_manifest(files, manifest, report, sha256 or Sha256s())
    return report
