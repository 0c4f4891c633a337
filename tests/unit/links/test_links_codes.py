"""Tokens, codes and destinations of the link service."""

from __future__ import annotations

import pytest

from matinale.links.codes import (
    LinkStateError,
    check_destination,
    check_id,
    is_code,
    is_token,
    new_code,
    new_token,
)


def test_tokens_are_128_random_bits_in_base64url() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 22 and is_token(t) for t in tokens)


def test_codes_are_8_unambiguous_characters_never_taken() -> None:
    code = new_code()
    assert is_code(code) and len(code) == 8
    assert not set(code) & set("01ilo")
    assert new_code({code}) != code


@pytest.mark.hostile
@pytest.mark.parametrize(
    "text", ["", "abc", "../../etc", "%2F%2Fevil", "abcdefgh/", "ABCDEFGH", "abcdefg0", "a" * 9]
)
def test_malformed_codes_and_tokens_are_refused(text: str) -> None:
    assert not is_code(text)
    assert not is_token(text)


@pytest.mark.hostile
@pytest.mark.parametrize(
    "url",
    [
        "//evil.example",
        "javascript:alert(1)",
        "https://user:pw@example.org/",
        "https://evil.example/",
        "https://example.org.evil.example/",
        "https://example.org\\@evil.example/",
        "https://exa mple.org/",
        "ftp://example.org/",
    ],
)
def test_destinations_must_be_absolute_https_on_allowed_domains(url: str) -> None:
    with pytest.raises(LinkStateError):
        check_destination(url, ("example.org",))


def test_allowed_destinations_pass() -> None:
    assert check_destination("https://www.example.org/agir?x=1", ("example.org",))
    assert check_id("segment", "s01-jeunes") == "s01-jeunes"
    with pytest.raises(LinkStateError):
        check_id("segment", "S01 ")
