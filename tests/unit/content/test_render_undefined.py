"""An undefined name or field in a post template: the file, the line and the name meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from matinale.content import ContentError
from matinale.content.render import _namespace, _opener_template, _render, _template


def _write(tmp_path: Path, source: str) -> Path:
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "x.j2").write_text(source, encoding="utf-8")
    return tmp_path / "posts" / "x.j2"


def _context() -> dict[str, object]:
    return {
        "theme": _namespace(title="Santé", key_message="Un médecin pour chacun"),
        "facts": [_namespace(text="6 millions", source="https://example.org")],
        "campaign": _namespace(name="Ensemble"),
        "_track": str,
    }


def test_a_misspelt_field_names_the_line_and_the_field_meant(tmp_path: Path) -> None:
    path = _write(tmp_path, "{{ campaign.name }}\n\n{{ theme.titel }}\n")
    with pytest.raises(ContentError) as error:
        _render(_template(tmp_path, "x.j2"), _context())
    assert str(error.value) == (
        f"template x.j2: {path}:3: 'theme' has no field 'titel' — did you mean 'theme.title'?"
    )


def test_a_misspelt_name_is_matched_against_the_context(tmp_path: Path) -> None:
    path = _write(tmp_path, "{{ campain.name }}\n")
    with pytest.raises(ContentError) as error:
        _render(_template(tmp_path, "x.j2"), _context())
    assert str(error.value) == (
        f"template x.j2: {path}:1: 'campain' is undefined — did you mean 'campaign'?"
    )


def test_a_loop_variable_field_is_matched_against_every_field(tmp_path: Path) -> None:
    _write(tmp_path, "{% for fact in facts %}\n{{ fact.txt }}\n{% endfor %}\n")
    with pytest.raises(
        ContentError, match=r"x\.j2:2: 'fact' has no field 'txt' — did you mean 'fact\.text'\?"
    ):
        _render(_template(tmp_path, "x.j2"), _context())


def test_with_nothing_close_the_fields_are_listed(tmp_path: Path) -> None:
    _write(tmp_path, "{{ theme.zzz }}\n")
    with pytest.raises(ContentError, match="— use one of key_message, title$"):
        _render(_template(tmp_path, "x.j2"), _context())


def test_an_opener_has_no_file_but_gets_the_suggestion() -> None:
    with pytest.raises(ContentError, match="'interst' is undefined — did you mean 'interest'\\?"):
        _render(_opener_template("Pour {{ interst }}"), {"interest": "santé"})
