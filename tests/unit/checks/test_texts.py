"""The strings the text checks read: the same strings and fields, named only when asked."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from matinale.checks.texts import _json_strings, _strings, _text_items


def _pairs(items) -> list[tuple[str, str]]:
    """Every string with its field named."""
    return [(items.where(index), text) for index, text in enumerate(items.texts)]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_a_json_file_s_strings_and_fields_are_the_walk_s(value: object) -> None:
    """Protects the path-free walk: same strings, same order, and the same field names."""
    walked = _json_strings(value)
    assert _strings(value) == [text for _, text in walked]
    items = _text_items("posts.json", json.dumps(value).encode())
    assert _pairs(items) == walked
    assert len(items) == len(walked)


def test_lines_are_numbered_from_one_and_bad_json_is_read_as_lines() -> None:
    items = _text_items("posts.md", b"un\r\ndeux\n\ntrois")
    assert items.texts == ["un", "deux", "", "trois"]
    assert items.where(3) == "line 4"
    broken = _text_items("posts.json", b'{"a": "b"')
    assert _pairs(broken) == [("line 1", '{"a": "b"')]
    assert _pairs(_text_items("x.json", b'"seul"')) == [("(value)", "seul")]


def test_parsed_texts_share_a_json_file_s_document() -> None:
    import pytest

    from matinale.checks import ParsedTexts

    parsed = ParsedTexts()
    data = b'{"posts": [{"text": "Bonjour"}]}'
    document = parsed.document("s01/posts.json", data)
    assert document == {"posts": [{"text": "Bonjour"}]}
    assert parsed.document("s02/posts.json", data) is document  # parsed once, same bytes
    assert parsed("s01/posts.json", data).texts == ["Bonjour"]
    with pytest.raises(json.JSONDecodeError):
        parsed.document("s03/posts.json", b'{"posts": [')
