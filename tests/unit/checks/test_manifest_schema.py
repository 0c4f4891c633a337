"""The manifest's schema check: jsonschema-rs decides fast that a document is valid, and
jsonschema words every problem.

``schema_problems`` trusts jsonschema-rs when it says "valid" and asks jsonschema
otherwise; these tests fail if jsonschema-rs accepts a value jsonschema rejects, on any
subschema of the manifest and on documents, for values made of JSON's own types (what
``json.loads`` gives and the bundle builds)."""

from __future__ import annotations

import copy
import math
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from matinale.checks.schema import _surely_valid, _validator, load_schema, schema_problems

_MANIFEST = load_schema("manifest")
_DEFS = _MANIFEST["$defs"]


class _Text(str):
    """A str subclass: still a JSON string for jsonschema."""


_VALUES: list[Any] = [
    *("", "x", "X", "0", "-x", "x-", "ok-slug", "ok--slug", "Bad Slug", "18-24-p01"),
    *("0" * 64, "0" * 63, "0" * 65, "A" * 64, "g" * 64, "0" * 64 + "\n", "\n" + "0" * 64),
    *("a/b", "a//b", "a/", "/a", "../x", "a/.b", "a b", "a\tb", "é", "😀", "😀😀", "ab", "abcd"),
    *("2026-11-24", "2026-11-24\n", "2026-1-24", "not a date-time", "2026-11-24T00:00:00Z"),
    *("page", "card", "Page", "page ", "main", "territory", "stored", "served", "other"),
    *("matinale.manifest/1", "matinale.manifest/1 ", "matinale.manifest/2"),
    _Text("page"),
    _Text("0" * 64),
    *(0, 1, -1, 2, 3, 167, 168, 169, 10**30, -(10**30)),
    *(0.0, -0.0, 1.0, 3.0, 2.5, 0.5, -0.5, 168.0, 168.5, 1e300, -1e-300),
    *(math.nan, math.inf, -math.inf, True, False, None),
    *([], [1], ["x"], [1, 2], [1, "x"], [1.0, 2.0]),
    *({}, {"a": 1}, {"a": "x"}, {"a": None}, {"a": 1, "b": 2}, {"code_version": "x"}),
    {"code_version": "abc", "brief.md": "0" * 64},
    {"code_version": 1},
    {"id": "ecole", "title": "T", "key_message": "M"},
    {"id": "ecole", "title": "T"},
    {"id": "Ecole", "title": "T", "key_message": "M", "x": 1},
]

_SYNTHETIC: list[Any] = [
    True,
    False,
    {},
    {"type": "string", "minLength": 2, "maxLength": 3},
    {"type": "string", "minLength": 1},
    {"type": "string", "maxLength": 0},
    {"type": "string", "pattern": "b"},  # re.search, not re.match
    {"type": "string", "pattern": "^a$"},
    {"type": "integer"},
    {"type": "integer", "minimum": 1, "maximum": 3},
    {"type": "integer", "maximum": 0},
    {"type": "integer", "minimum": 0.5},
    {"type": "number", "minimum": 0.5, "maximum": 2},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
    {"type": "array"},
    {"type": "object"},
    {"type": ["string", "null"]},
    {"type": ["integer", "boolean"]},
    {"type": ["number", "string"], "description": "d", "title": "t", "format": "date-time"},
    {"type": "string", "format": "date-time"},
    {"enum": ["a", "page", "1", "0"]},
    {"enum": []},
    {"const": "page"},
    {"const": ""},
    {"oneOf": [{"type": "integer"}, {"type": "number"}]},
    {"oneOf": [{"type": "string"}, {"type": "null"}, {"const": "x"}]},
    {"oneOf": []},
    {"type": "array", "items": {"type": "integer"}, "minItems": 2},
    {"items": {"type": "string", "pattern": "^x$"}},
    {"minItems": 1},
    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
    {"properties": {"a": {"type": "integer"}}, "additionalProperties": False},
    {"required": ["a", "b"]},
    {"additionalProperties": {"type": "string"}},
    {"additionalProperties": False},
    {"properties": {"a": True, "b": False}},
    {"$ref": "#/$defs/slug"},
    {"$ref": "#/$defs/path", "description": "d"},
    {"$ref": "#/$defs/slug", "type": "string"},
]


def _subschemas() -> list[tuple[str, Any]]:
    """Every subschema of the manifest schema, named by where it is, and the synthetic ones."""
    found: list[tuple[str, Any]] = []

    def walk(where: str, schema: Any) -> None:
        found.append((where, schema))
        if isinstance(schema, dict):
            for name, sub in schema.get("properties", {}).items():
                walk(f"{where}.{name}", sub)
            for word in ("items", "additionalProperties"):
                if isinstance(schema.get(word), dict):
                    walk(f"{where}.{word}", schema[word])
            for index, sub in enumerate(schema.get("oneOf", [])):
                walk(f"{where}.oneOf{index}", sub)

    walk("manifest", {k: v for k, v in _MANIFEST.items() if k not in ("$schema", "$id", "$defs")})
    for name, sub in _DEFS.items():
        walk(f"$defs.{name}", sub)
    found.extend((f"synthetic{index}", sub) for index, sub in enumerate(_SYNTHETIC))
    return found


_SUBSCHEMAS = _subschemas()


def _jsonschema_valid(schema: Any, value: Any) -> bool:
    whole = schema if isinstance(schema, bool) else {"$defs": _DEFS, **schema}
    return jsonschema.Draft202012Validator(whole).is_valid(value)


def _rs_valid(schema: Any, value: Any) -> bool:
    whole = schema if isinstance(schema, bool) else {"$defs": _DEFS, **schema}
    try:
        return jsonschema_rs.Draft202012Validator(whole, validate_formats=False).is_valid(value)
    except ValueError:  # a value it has no word for: schema_problems asks jsonschema then
        return False


def _assert_never_more_lenient(schema: Any, value: Any) -> None:
    if _rs_valid(schema, value):
        assert _jsonschema_valid(schema, value), (schema, value)


@pytest.mark.parametrize(("where", "schema"), _SUBSCHEMAS, ids=[w for w, _ in _SUBSCHEMAS])
def test_jsonschema_rs_accepts_nothing_jsonschema_rejects(where: str, schema: Any) -> None:
    agree = 0
    for value in _VALUES:
        _assert_never_more_lenient(schema, value)
        agree += _rs_valid(schema, value) is _jsonschema_valid(schema, value)
    # and it rarely sends a valid value to jsonschema (a "$" before a last newline, a str subclass)
    assert agree >= len(_VALUES) - 6


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([v for v in _VALUES if isinstance(v, str)])
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "b", "id", "path", "code_version"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)


@settings_(max_examples=300, deadline=None)
@given(index=st.integers(0, len(_SUBSCHEMAS) - 1), value=_JSON)
def test_jsonschema_rs_accepts_nothing_jsonschema_rejects_on_random_values(
    index: int, value: Any
) -> None:
    _assert_never_more_lenient(_SUBSCHEMAS[index][1], value)


def test_formats_are_checked_by_neither() -> None:
    assert _validator("manifest").format_checker is None
    document = copy.deepcopy(_DOCUMENT)
    document["generated_at"] = "not a date-time"
    assert _surely_valid(document, "manifest")


def test_a_value_jsonschema_rs_cannot_read_goes_to_jsonschema() -> None:
    document = copy.deepcopy(_DOCUMENT)
    document["campaign"] = _Text("ensemble-demain")
    assert not _surely_valid(document, "manifest")
    assert schema_problems(document, "manifest") == []


def _reference(document: Any) -> list[tuple[str, str]]:
    """A whole validation by jsonschema, formatted and sorted as ``schema_problems`` does."""
    errors = sorted(
        _validator("manifest").iter_errors(document),
        key=lambda error: list(map(str, error.absolute_path)),
    )
    return [("/".join(map(str, e.absolute_path)) or "(root)", e.message) for e in errors]


def _entry(index: int) -> dict[str, Any]:
    return {
        "path": f"18-24-p01/cards/card-{index}.jpg",
        "sha256": f"{index:064x}",
        "bytes": 1000 + index,
        "content_type": "image/jpeg",
        "segment": "18-24-p01" if index % 3 else None,
        "kind": "card",
        "width": 1080,
        "height": 1350,
        "theme": "ecole",
        "format": "square",
        "alt": "Visuel carré",
    }


_DOCUMENT: dict[str, Any] = {
    "schema": "matinale.manifest/1",
    "edition": "2026-11-24",
    "run": "20261124T001502Z-3f9c",
    "campaign": "ensemble-demain",
    "generated_at": "2026-11-24T00:15:02Z",
    "published_at": None,
    "packs": "served",
    "link_expiry_hours": 168,
    "themes": [{"id": "ecole", "title": "École", "key_message": "Une école"}],
    "segments": [
        {
            "id": "18-24-p01",
            "label": "18-24",
            "size": 120,
            "kind": "main",
            "page": "18-24-p01/index.html",
        }
    ],
    "inputs": {"code_version": "abc123", "brief.md": "0" * 64},
    "files": [_entry(index) for index in range(6)],
}


def test_the_sample_manifest_is_valid() -> None:
    assert _reference(_DOCUMENT) == [] == schema_problems(_DOCUMENT, "manifest")


_FILE_KEYS = [*_entry(0), "extra"]
_SEGMENT_KEYS = [*_DOCUMENT["segments"][0], "extra"]
_ROOT_KEYS = [key for key in _DOCUMENT if key != "files"] + ["unexpected"]


@pytest.mark.parametrize("key", _FILE_KEYS)
def test_schema_problems_match_a_whole_validation_for_every_entry_value(key: str) -> None:
    for value in _VALUES:
        document = copy.deepcopy(_DOCUMENT)
        document["files"][2][key] = value
        document["files"][4][key] = value  # the same value twice: remembered, same answer
        assert schema_problems(document, "manifest") == _reference(document), (key, value)


@pytest.mark.parametrize(
    ("array", "key"), [("segments", k) for k in _SEGMENT_KEYS] + [("(root)", k) for k in _ROOT_KEYS]
)
def test_schema_problems_match_a_whole_validation_outside_the_files(array: str, key: str) -> None:
    for value in _VALUES:
        document = copy.deepcopy(_DOCUMENT)
        (document if array == "(root)" else document[array][0])[key] = value
        assert schema_problems(document, "manifest") == _reference(document), (key, value)


@pytest.mark.parametrize("value", _VALUES)
def test_schema_problems_match_a_whole_validation_for_odd_entries(value: Any) -> None:
    document = copy.deepcopy(_DOCUMENT)
    document["files"][1] = value
    del document["files"][3]["sha256"]
    assert schema_problems(document, "manifest") == _reference(document)
